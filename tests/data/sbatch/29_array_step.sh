#!/bin/bash
#SBATCH -a 1-15:4,20
#SBATCH -t 5
true
