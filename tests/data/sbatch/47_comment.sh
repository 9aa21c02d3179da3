#!/bin/bash
#SBATCH --comment="nightly build, run 7"
#SBATCH -t 5
true
