package ringattn.cuda.ffm;

/**
 * A CUDA runtime, driver or cuBLAS call returned an error status. The message names the call, the
 * numeric status and the library's own name and description of it
 * ({@code cudaGetErrorName}/{@code cudaGetErrorString}, {@code cuGetErrorName}/{@code cuGetErrorString},
 * {@code cublasGetStatusName}/{@code cublasGetStatusString}).
 */
public final class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public CudaException(String call, int status, String name, String description) {
        super(call + " returned " + status + " (" + name + ": " + description + ")");
        this.status = status;
    }

    /** The numeric status the library returned. */
    public int status() {
        return status;
    }
}
