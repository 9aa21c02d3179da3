#!/bin/bash
#SBATCH --begin=2036-03-04T05:06:07
#SBATCH -t 5
true
