#!/bin/sh
#SBATCH -Jattached -pdebug -t5 -N1 -n1
true
