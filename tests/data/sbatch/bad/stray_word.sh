#!/bin/bash
# line: 3
#SBATCH --time=5 hostname
true
