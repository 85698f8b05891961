"""The Slurm commands: sbatch, srun, salloc, squeue, sinfo, sacct, scontrol, scancel, sprio, sshare, sacctmgr, seff and corral's own why."""
