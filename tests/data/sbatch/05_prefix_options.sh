#!/bin/bash
# getopt_long takes unambiguous prefixes, and so does sbatch
#SBATCH --job=prefixes --part=gpu --mem-per-c=64 --cpus-per-t=2
true
