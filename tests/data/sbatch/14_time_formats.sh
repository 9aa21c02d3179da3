#!/bin/bash
#SBATCH --time=2-6
#SBATCH --time-min=45:30
true
