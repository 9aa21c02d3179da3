#!/bin/bash
#SBATCH --time=1-12:30:00
#SBATCH --time-min=2:00:00
true
