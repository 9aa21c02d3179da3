#!/bin/bash
#SBATCH --nodes=1 --tasks-per-node=1 --ntasks=1
#SBATCH -t 5
true
