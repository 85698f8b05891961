"""What every family of commands shares: option parsing, running a command against the controller, users, sort specs, refusals, clusters (-M), allocations and interactive jobs."""
