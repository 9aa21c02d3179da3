#!/bin/bash
#SBATCH --licenses=matlab:1
#SBATCH -t 5
true
