#!/bin/bash
#SBATCH --deadline=now+2days
#SBATCH -t 5
true
