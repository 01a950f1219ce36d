"""What every Encore command tells people while it runs: structured, secret-free log lines
(`observability.logs`) and progress for long steps (`observability.progress`). The bottom
layer above `config`: it imports no other Encore package."""
