#!/bin/bash
#SBATCH --dependency=afterok:@ANCHOR@
#SBATCH -t 5
true
