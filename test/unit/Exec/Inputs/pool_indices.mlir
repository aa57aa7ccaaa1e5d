// Max pooling and where it takes its maxima, as global flat indices
// (column-major, as ONNX's storage_order = 1). ExecSemanticsTest
// .MaxPoolIndicesAreGlobalOnEveryShard splits it along batch and channels.
func.func @pool_indices(%x: tensor<4x6x7x7xf32>)
    -> (tensor<4x6x4x4xf32>, tensor<4x6x4x4xi64>) {
  %y = soap.pool2d max %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>,
                           padding = array<i64: 1, 1, 1, 1>, soap.name = "pool"}
      : tensor<4x6x7x7xf32> -> tensor<4x6x4x4xf32>
  %i = soap.max_pool_indices %x {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>,
                                 padding = array<i64: 1, 1, 1, 1>, column_major,
                                 soap.name = "indices"}
      : tensor<4x6x7x7xf32> -> tensor<4x6x4x4xi64>
  return %y, %i : tensor<4x6x4x4xf32>, tensor<4x6x4x4xi64>
}
