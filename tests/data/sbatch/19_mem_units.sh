#!/bin/bash
#SBATCH --mem=1G
#SBATCH -t 5
true
