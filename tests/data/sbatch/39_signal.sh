#!/bin/bash
#SBATCH --signal=USR1@120
#SBATCH -t 10
trap 'echo caught' USR1
sleep 1
