# Sourced by the launch scripts: the environment MPI ranks need on these machines.
# One BLAS thread per rank (ranks are the parallelism); Open MPI as root needs two variables;
# more ranks than cores need oversubscription (Open MPI only, so kept out of CMake).
export OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export PMIX_MCA_pcompress_base_silence_warning=1
