#!/usr/bin/env bash
# GPU check for ringattn's cuda module, for a GPU machine that has no Java.
#
#   modules/cuda/gpu-check.sh prepare          # on the build machine (JDK 25 + Maven): makes
#                                              # modules/cuda/gpu-bundle/ (jlinked runtime + jars)
#   modules/cuda/gpu-check.sh [OUT_DIR]        # on the GPU machine: correctness cases against the
#                                              # fp64 reference, then the benchmark; results in
#                                              # OUT_DIR/gpu-check.txt (default: $OUT, else ./gpu-check-results)
#
# The run needs the NVIDIA driver (libcuda.so.1) and CUDA 13 (or 12) libcudart and libcublas:
# found by soname, under $CUDA_HOME or /usr/local/cuda, in $RINGATTN_CUBLAS_DIR, or in a pip
# install of nvidia-cublas / nvidia-cuda-runtime (searched below). Exit status: 0 passed, 1 failed,
# 2 skipped (no usable GPU; the reason is in the file), 124 timed out.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bundle="${RINGATTN_GPU_BUNDLE:-$here/gpu-bundle}"

prepare() {
  set -e
  local root; root="$(cd "$here/../.." && pwd)"
  export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
  export MAVEN_OPTS="${MAVEN_OPTS:---sun-misc-unsafe-memory-access=allow}"
  (cd "$root" && mvn -q -o -pl modules/cuda package -DskipTests)
  rm -rf "$bundle"
  mkdir -p "$bundle/mods"
  cp "$here"/target/ringattn-cuda-*.jar "$bundle/mods/"
  rm -f "$bundle"/mods/*-tests.jar "$bundle"/mods/*-sources.jar
  cp "$here"/target/lib/ringattn-engine-*.jar "$bundle/mods/"
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,jdk.incubator.vector \
    --compress zip-6 --strip-debug --no-header-files --no-man-pages --output "$bundle/jre"
  du -sh "$bundle" | sed 's/^/bundle size: /'
}

# Adds pip-installed NVIDIA libraries (python -m pip install nvidia-cublas ...) to the search.
find_pip_libs() {
  local py site d
  for py in python3 python; do
    command -v "$py" >/dev/null 2>&1 || continue
    for site in $("$py" -c 'import site,sys; print(" ".join(site.getsitepackages()+[site.getusersitepackages()]))' 2>/dev/null); do
      for d in "$site"/nvidia/cu13/lib "$site"/nvidia/cublas/lib "$site"/nvidia/cuda_runtime/lib; do
        if [ -e "$d/libcublas.so.13" ] || [ -e "$d/libcublas.so.12" ]; then
          export RINGATTN_CUBLAS_DIR="${RINGATTN_CUBLAS_DIR:-$d}"
        fi
        if ls "$d"/libcudart.so.* >/dev/null 2>&1; then
          export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        fi
      done
    done
    break
  done
}

run() {
  local out="${1:-${OUT:-gpu-check-results}}"
  mkdir -p "$out"
  local java="${RINGATTN_JAVA:-$bundle/jre/bin/java}"
  if [ ! -x "$java" ]; then
    java="$(command -v java || true)"
  fi
  if [ -z "$java" ] || [ ! -d "$bundle/mods" ]; then
    echo "gpu-check: no runtime or jars in $bundle: run '$0 prepare' on the build machine and copy $bundle" \
      | tee "$out/gpu-check.txt" >&2
    return 1
  fi
  find_pip_libs
  {
    echo "host: $(uname -a)"
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    echo "RINGATTN_CUBLAS_DIR=${RINGATTN_CUBLAS_DIR:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} CUDA_HOME=${CUDA_HOME:-}"
  } > "$out/environment.txt" 2>&1
  timeout "${RINGATTN_GPU_CHECK_TIMEOUT:-280}" "$java" \
    --add-modules jdk.incubator.vector \
    --enable-native-access=ringattn.cuda,ringattn.engine \
    -Xss4m -Xmx16g \
    -p "$bundle/mods" -m ringattn.cuda/ringattn.cuda.check.GpuCheck "$out" 2>&1 | tee "$out/gpu-check.log"
  local status=${PIPESTATUS[0]}
  echo "gpu-check: exit $status; results in $out/gpu-check.txt"
  return "$status"
}

case "${1:-}" in
  prepare) shift; prepare "$@" ;;
  *) run "$@" ;;
esac
