"""`corral sim`: replay a workload trace or the cluster's own accounting through the scheduling core."""
