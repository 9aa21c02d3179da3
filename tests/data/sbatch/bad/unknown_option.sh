#!/bin/bash
# line: 4
#SBATCH --job-name=bad
#SBATCH --no-such-option=1
true
