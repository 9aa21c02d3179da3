#!/bin/bash
#SBATCH --mem=204800K
#SBATCH -t 5
true
