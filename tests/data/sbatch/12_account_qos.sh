#!/bin/bash
#SBATCH --account=research
#SBATCH --qos=normal
#SBATCH --time=5
true
