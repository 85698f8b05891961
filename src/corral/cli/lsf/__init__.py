"""The LSF front-end: bsub, bjobs, bkill and the status commands (bqueues, bhosts, bpeek, bhist)."""
