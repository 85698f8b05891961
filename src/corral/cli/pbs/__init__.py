"""The PBS front-end: qsub, qstat, qdel and pbsnodes, translated into the same requests as sbatch."""
