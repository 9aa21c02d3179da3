#!/bin/bash
# line: 3
#SBATCH --time=1:xx:00
true
