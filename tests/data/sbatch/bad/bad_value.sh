#!/bin/bash
# line: 4
#SBATCH -J bad
#SBATCH --ntasks=many
true
