#!/bin/bash
#SBATCH --exclusive=user
#SBATCH -t 5
true
