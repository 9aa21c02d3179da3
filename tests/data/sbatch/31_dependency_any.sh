#!/bin/bash
#SBATCH -d afterany:@ANCHOR@?afternotok:@ANCHOR@
#SBATCH -t 5
true
