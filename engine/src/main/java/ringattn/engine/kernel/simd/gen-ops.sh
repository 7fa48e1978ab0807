#!/bin/sh
# Regenerates Ops256.java and Ops128.java from the template Ops512.java (run from this directory).
set -e
cd "$(dirname "$0")"
gen() { # bits shortSpeciesBits lanes
    sed -e "s/Ops512/Ops$1/g" \
        -e "s/ShortVector.SPECIES_256/ShortVector.SPECIES_$2/" \
        -e "s/SPECIES_512/SPECIES_$1/g" \
        -e "s/512-bit vectors (16 floats)/$1-bit vectors ($3 floats)/" \
        -e "s/return 512;/return $1;/" \
        -e "s/^ \* <p>TEMPLATE: .*/ * <p>GENERATED from {@code Ops512.java} by {@code gen-ops.sh}: do not edit; edit the template/" \
        -e "s/^ \* {@code gen-ops.sh} in this directory (the species.*/ * and rerun the script (the species must be {@code static final} constants for C2,/" \
        -e "s/^ \* so each width is its own class). Edit this file, then rerun the script./ * so each width is its own class)./" \
        Ops512.java > "Ops$1.java"
}
gen 256 128 8
gen 128 64 4
