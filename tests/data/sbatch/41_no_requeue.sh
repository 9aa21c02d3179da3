#!/bin/bash
# 22.05 ignores requeue=false over REST: slurm-client refuses it there
# rest-refuses: 22.05
#SBATCH --no-requeue
#SBATCH -t 5
true
