#!/bin/bash
#SBATCH --reservation=@RESV@
#SBATCH -t 5
true
