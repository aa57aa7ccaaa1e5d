//===- SoapAttributes.td - #soap.parallel -----------------*- tablegen -*-===//
#ifndef SOAP_DIALECT_SOAP_SOAPATTRIBUTES_TD
#define SOAP_DIALECT_SOAP_SOAPATTRIBUTES_TD

include "soap/Dialect/Soap/SoapBase.td"

def Soap_ParallelAttr : AttrDef<Soap_Dialect, "Parallel"> {
  let mnemonic = "parallel";
  let summary = "A parallel config: degrees per named dimension and a machine view";
  let description = [{
    The parallel config of one op in the SOAP space: for each of the op's
    parallelizable dimensions that is split, its degree, and the machine view
    that places the resulting shards on devices.

    Devices are numbered `node * devices_per_node + device` over the machine's
    nodes x devices grid. The shard with coordinates `(i_1, ..., i_k)` (one per
    listed dimension, in order) runs on device `start + sum_j i_j * stride_j`.
    Without `strides`, the view is the contiguous row-major block (the last
    dimension has stride 1); without `start`, it starts at device 0.

    ```mlir
    // 4-way data parallel x 2-way column parallel on devices 0..7
    #soap.parallel<{batch = 4, out = 2}>
    // the same, on devices 8..15, the column split across nodes of 8
    #soap.parallel<{batch = 4, out = 2}, start = 8, strides = [1, 8]>
    ```

    The attribute verifies on its own that degrees are positive, names are
    unique and the view maps shards to distinct devices; attached to an op as
    `soap.parallel`, the dialect also checks every name against the op's
    parallelizable dimensions and that each degree divides the dimension.
  }];
  let parameters = (ins
    ArrayRefParameter<"::mlir::StringAttr", "dimension names">:$dims,
    ArrayRefParameter<"int64_t", "degree of each dimension">:$degrees,
    "int64_t":$start,
    ArrayRefParameter<"int64_t", "device stride of each dimension">:$strides
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of devices (shards) the config uses: the product of degrees.
    int64_t getNumDevices() const;
    /// Degree of the named dimension (1 when it is not listed).
    int64_t getDegree(::llvm::StringRef dim) const;
    /// The device of every shard, in row-major shard order.
    ::llvm::SmallVector<int64_t> getDeviceIds() const;
    /// Row-major contiguous strides for the given degrees.
    static ::llvm::SmallVector<int64_t>
    contiguousStrides(::llvm::ArrayRef<int64_t> degrees);
  }];
}

#endif // SOAP_DIALECT_SOAP_SOAPATTRIBUTES_TD
