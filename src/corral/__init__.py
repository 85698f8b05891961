"""corral: a workload manager for research and HPC clusters that speaks Slurm."""

__version__ = "0.1.0"
__all__ = ["__version__"]
