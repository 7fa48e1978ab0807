#!/bin/sh
# Regenerates MatMul512.java and MatMul128.java from the template MatMul256.java (run from anywhere).
set -e
cd "$(dirname "$0")"
gen() { # bits shortSpeciesBits lanes
    sed -e "s/MatMul256/MatMul$1/g" \
        -e "s/SPECIES_256;/SPECIES_$1;/g" \
        -e "s/ShortVector.SPECIES_128/ShortVector.SPECIES_$2/" \
        -e "s/256-bit vectors (8 floats)/$1-bit vectors ($3 floats)/" \
        -e "s/\"panama-256\"/\"panama-$1\"/" \
        -e "s/^ \* <p>TEMPLATE: .*/ * <p>GENERATED from {@code MatMul256.java} by {@code gen-matmul.sh}: do not edit; edit the/" \
        -e "s/^ \* {@code gen-matmul.sh} in this directory (the species.*/ * template and rerun the script (the species must be {@code static final} constants for C2,/" \
        -e "s/^ \* so each width is its own class). Edit this file, then rerun the script./ * so each width is its own class)./" \
        MatMul256.java > "MatMul$1.java"
}
gen 512 256 16
gen 128 64 4
