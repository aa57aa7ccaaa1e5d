//===- Vision.cpp - AlexNet, VGG, ResNet, Inception-v3 --------------------===//
//
// The image classifiers, layer for layer as torchvision defines them, with
// torchvision's parameter names. Inputs: "images" [N, 3, S, S] and "labels"
// [N]; the loss is the mean softmax cross-entropy.
//
//===----------------------------------------------------------------------===//
#include "ModelBuilder.h"

using namespace mlir;
using namespace soap;
using namespace soap::zoo;
using namespace soap::zoo::detail;

namespace {
/// Checks the options every image model shares.
void checkImageOptions(ModelBuilder &b, int64_t batch, int64_t imageSize,
                       int64_t numClasses, int64_t minImageSize) {
  if (batch < 1)
    b.fail("batch must be positive, got " + Twine(batch));
  if (numClasses < 1)
    b.fail("classes must be positive, got " + Twine(numClasses));
  if (imageSize < minImageSize)
    b.fail("image-size must be at least " + Twine(minImageSize) +
           " for this model, got " + Twine(imageSize));
}

/// The linear layers of the classifiers (torchvision's VGG and PyTorch's
/// default init both draw from a zero-mean distribution; Soap uses N(0, 0.01)
/// as torchvision's VGG does).
Init classifierInit() { return Init::normal(0.01); }
} // namespace

//===----------------------------------------------------------------------===//
// AlexNet
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> soap::zoo::buildAlexNet(MLIRContext &ctx,
                                              const AlexNetOptions &o) {
  return runBuilder(ctx, "alexnet", o.dtype, [&](ModelBuilder &b) {
    b.setWidthDivisor(o.widthDivisor);
    checkImageOptions(b, o.batch, o.imageSize, o.numClasses, 63);
    Value x = b.input("images", {o.batch, 3, o.imageSize, o.imageSize});
    Value labels = b.indexInput("labels", {o.batch});
    struct Layer {
      int64_t out, kernel, stride, pad;
      bool poolAfter;
    } layers[] = {{64, 11, 4, 2, true},
                  {192, 5, 1, 2, true},
                  {384, 3, 1, 1, false},
                  {256, 3, 1, 1, false},
                  {256, 3, 1, 1, true}};
    int64_t index = 0; // torchvision's nn.Sequential index in "features"
    for (const Layer &l : layers) {
      ConvSpec spec = ConvSpec::square(l.out, l.kernel, l.stride, l.pad);
      spec.bias = true;
      x = b.conv2d(x, spec, "features." + Twine(index++));
      x = b.relu(x, "features." + Twine(index++));
      if (l.poolAfter)
        x = b.maxPool(x, 3, 2, 0, "features." + Twine(index++));
    }
    x = b.adaptiveAvgPool(x, 6, "avgpool");
    x = b.flatten(x, "flatten");
    x = b.dropout(x, o.dropout, "classifier.0");
    x = b.linear(x, b.narrow(4096, "classifier.1"), "classifier.1",
                 classifierInit());
    x = b.relu(x, "classifier.2");
    x = b.dropout(x, o.dropout, "classifier.3");
    x = b.linear(x, b.narrow(4096, "classifier.4"), "classifier.4",
                 classifierInit());
    x = b.relu(x, "classifier.5");
    x = b.linear(x, o.numClasses, "classifier.6", classifierInit());
    return b.crossEntropy(x, labels, "loss");
  });
}

//===----------------------------------------------------------------------===//
// VGG
//===----------------------------------------------------------------------===//

OwningOpRef<ModuleOp> soap::zoo::buildVgg(MLIRContext &ctx,
                                          const VggOptions &o) {
  std::string name = "vgg" + std::to_string(o.depth) + (o.batchNorm ? "_bn" : "");
  return runBuilder(ctx, name, o.dtype, [&](ModelBuilder &b) {
    // torchvision's configurations A, B, D, E; 0 is a max pooling.
    static const std::vector<int64_t> a = {64, 0, 128, 0, 256, 256, 0,
                                           512, 512, 0, 512, 512, 0};
    static const std::vector<int64_t> bCfg = {64, 64, 0, 128, 128, 0, 256,
                                              256, 0, 512, 512, 0, 512, 512,
                                              0};
    static const std::vector<int64_t> d = {64, 64, 0, 128, 128, 0, 256, 256,
                                           256, 0, 512, 512, 512, 0, 512, 512,
                                           512, 0};
    static const std::vector<int64_t> e = {64, 64, 0, 128, 128, 0, 256, 256,
                                           256, 256, 0, 512, 512, 512, 512, 0,
                                           512, 512, 512, 512, 0};
    const std::vector<int64_t> *cfg = nullptr;
    switch (o.depth) {
    case 11: cfg = &a; break;
    case 13: cfg = &bCfg; break;
    case 16: cfg = &d; break;
    case 19: cfg = &e; break;
    default:
      b.fail("depth must be 11, 13, 16 or 19 for VGG, got " + Twine(o.depth));
    }
    b.setWidthDivisor(o.widthDivisor);
    checkImageOptions(b, o.batch, o.imageSize, o.numClasses, 32);
    Value x = b.input("images", {o.batch, 3, o.imageSize, o.imageSize});
    Value labels = b.indexInput("labels", {o.batch});
    int64_t index = 0;
    for (int64_t width : *cfg) {
      if (width == 0) {
        x = b.maxPool(x, 2, 2, 0, "features." + Twine(index++));
        continue;
      }
      ConvSpec spec = ConvSpec::square(width, 3, 1, 1);
      spec.bias = true;
      x = b.conv2d(x, spec, "features." + Twine(index++));
      if (o.batchNorm)
        x = b.batchNorm(x, "features." + Twine(index++));
      x = b.relu(x, "features." + Twine(index++));
    }
    x = b.adaptiveAvgPool(x, 7, "avgpool");
    x = b.flatten(x, "flatten");
    x = b.linear(x, b.narrow(4096, "classifier.0"), "classifier.0",
                 classifierInit());
    x = b.relu(x, "classifier.1");
    x = b.dropout(x, o.dropout, "classifier.2");
    x = b.linear(x, b.narrow(4096, "classifier.3"), "classifier.3",
                 classifierInit());
    x = b.relu(x, "classifier.4");
    x = b.dropout(x, o.dropout, "classifier.5");
    x = b.linear(x, o.numClasses, "classifier.6", classifierInit());
    return b.crossEntropy(x, labels, "loss");
  });
}

//===----------------------------------------------------------------------===//
// ResNet, ResNeXt, Wide-ResNet
//===----------------------------------------------------------------------===//

namespace {
/// torchvision's BasicBlock (expansion 1) and Bottleneck (expansion 4), in
/// the current scope ("layer<i>.<j>").
Value residualBlock(ModelBuilder &b, Value x, int64_t planes, int64_t stride,
                    bool bottleneck, const ResNetOptions &o) {
  int64_t inplanes = shapeOf(x)[1];
  int64_t expansion = bottleneck ? 4 : 1;
  Value y;
  if (bottleneck) {
    int64_t width = planes * o.widthPerGroup / 64 * o.groups;
    y = b.convBnRelu(x, ConvSpec::square(width, 1), "conv1", "bn1", "relu1");
    ConvSpec mid = ConvSpec::square(width, 3, stride, 1);
    mid.groups = o.groups;
    y = b.convBnRelu(y, mid, "conv2", "bn2", "relu2");
    y = b.conv2d(y, ConvSpec::square(planes * expansion, 1), "conv3");
    y = b.batchNorm(y, "bn3");
  } else {
    y = b.convBnRelu(x, ConvSpec::square(planes, 3, stride, 1), "conv1", "bn1",
                     "relu1");
    y = b.conv2d(y, ConvSpec::square(planes, 3, 1, 1), "conv2");
    y = b.batchNorm(y, "bn2");
  }
  Value shortcut = x;
  if (stride != 1 ||
      inplanes != b.narrow(planes * expansion, "downsample.0")) {
    shortcut = b.conv2d(x, ConvSpec::square(planes * expansion, 1, stride),
                        "downsample.0");
    shortcut = b.batchNorm(shortcut, "downsample.1");
  }
  return b.relu(b.add(y, shortcut, "add"), "relu");
}
} // namespace

OwningOpRef<ModuleOp> soap::zoo::buildResNet(MLIRContext &ctx,
                                             const ResNetOptions &o) {
  std::string name = "resnet" + std::to_string(o.depth);
  if (o.groups == 1 && o.widthPerGroup != 64 && o.widthPerGroup % 64 == 0)
    name = "wide_resnet" + std::to_string(o.depth) + "_" +
           std::to_string(o.widthPerGroup / 64);
  else if (o.groups != 1 || o.widthPerGroup != 64)
    name = "resnext" + std::to_string(o.depth) + "_" + std::to_string(o.groups) +
           "x" + std::to_string(o.widthPerGroup) + "d";
  return runBuilder(ctx, name, o.dtype, [&](ModelBuilder &b) {
    std::vector<int64_t> blocks;
    bool bottleneck = true;
    switch (o.depth) {
    case 18: blocks = {2, 2, 2, 2}; bottleneck = false; break;
    case 34: blocks = {3, 4, 6, 3}; bottleneck = false; break;
    case 50: blocks = {3, 4, 6, 3}; break;
    case 101: blocks = {3, 4, 23, 3}; break;
    case 152: blocks = {3, 8, 36, 3}; break;
    default:
      b.fail("depth must be 18, 34, 50, 101 or 152 for ResNet, got " +
             Twine(o.depth));
    }
    if (o.groups < 1 || o.widthPerGroup < 1)
      b.fail("groups and width-per-group must be positive, got " +
             Twine(o.groups) + " and " + Twine(o.widthPerGroup));
    if (!bottleneck && (o.groups != 1 || o.widthPerGroup != 64))
      b.fail("ResNet-" + Twine(o.depth) +
             " has basic blocks, which support only groups 1 and "
             "width-per-group 64 (as in torchvision)");
    b.setWidthDivisor(o.widthDivisor);
    checkImageOptions(b, o.batch, o.imageSize, o.numClasses, 32);
    Value x = b.input("images", {o.batch, 3, o.imageSize, o.imageSize});
    Value labels = b.indexInput("labels", {o.batch});
    x = b.convBnRelu(x, ConvSpec::square(64, 7, 2, 3), "conv1", "bn1", "relu");
    x = b.maxPool(x, 3, 2, 1, "maxpool");
    int64_t planes = 64;
    for (auto [stage, count] : llvm::enumerate(blocks)) {
      for (int64_t j = 0; j < count; ++j) {
        ModelBuilder::Scope scope(b, "layer" + Twine(stage + 1) + "." +
                                         Twine(j));
        int64_t stride = (stage > 0 && j == 0) ? 2 : 1;
        x = residualBlock(b, x, planes, stride, bottleneck, o);
      }
      planes *= 2;
    }
    x = b.globalAvgPool(x, "avgpool");
    x = b.flatten(x, "flatten");
    x = b.linear(x, o.numClasses, "fc", Init::fanIn(shapeOf(x)[1]));
    return b.crossEntropy(x, labels, "loss");
  });
}

//===----------------------------------------------------------------------===//
// Inception-v3
//===----------------------------------------------------------------------===//

namespace {
/// torchvision's BasicConv2d "<name>" (conv without bias, batch norm with
/// eps 0.001, ReLU) with a kh x kw kernel and symmetric padding.
Value basicConv(ModelBuilder &b, Value x, const Twine &name, int64_t out,
                int64_t kh, int64_t kw, int64_t stride = 1, int64_t ph = 0,
                int64_t pw = 0) {
  ModelBuilder::Scope scope(b, name);
  ConvSpec spec{out, kh, kw, stride, stride, ph, pw};
  return b.convBnRelu(x, spec, "conv", "bn", "relu", 1e-3);
}

Value basicConv(ModelBuilder &b, Value x, const Twine &name, int64_t out,
                int64_t k) {
  return basicConv(b, x, name, out, k, k, 1, k / 2, k / 2);
}

/// 3x3 average pooling (stride 1, padding 1, counting the padding, as
/// F.avg_pool2d does by default) followed by a 1x1 BasicConv2d.
Value poolBranch(ModelBuilder &b, Value x, int64_t out) {
  Value y = b.avgPool(x, 3, 1, 1, /*countIncludePad=*/true, "avg_pool");
  return basicConv(b, y, "branch_pool", out, 1);
}

Value inceptionA(ModelBuilder &b, Value x, int64_t poolFeatures) {
  Value b1 = basicConv(b, x, "branch1x1", 64, 1);
  Value b5 = basicConv(b, x, "branch5x5_1", 48, 1);
  b5 = basicConv(b, b5, "branch5x5_2", 64, 5);
  Value b3 = basicConv(b, x, "branch3x3dbl_1", 64, 1);
  b3 = basicConv(b, b3, "branch3x3dbl_2", 96, 3);
  b3 = basicConv(b, b3, "branch3x3dbl_3", 96, 3);
  Value bp = poolBranch(b, x, poolFeatures);
  return b.concat({b1, b5, b3, bp}, 1, "concat");
}

Value inceptionB(ModelBuilder &b, Value x) {
  Value b3 = basicConv(b, x, "branch3x3", 384, 3, 3, 2);
  Value bd = basicConv(b, x, "branch3x3dbl_1", 64, 1);
  bd = basicConv(b, bd, "branch3x3dbl_2", 96, 3);
  bd = basicConv(b, bd, "branch3x3dbl_3", 96, 3, 3, 2);
  Value bp = b.maxPool(x, 3, 2, 0, "max_pool");
  return b.concat({b3, bd, bp}, 1, "concat");
}

Value inceptionC(ModelBuilder &b, Value x, int64_t c7) {
  Value b1 = basicConv(b, x, "branch1x1", 192, 1);
  Value b7 = basicConv(b, x, "branch7x7_1", c7, 1);
  b7 = basicConv(b, b7, "branch7x7_2", c7, 1, 7, 1, 0, 3);
  b7 = basicConv(b, b7, "branch7x7_3", 192, 7, 1, 1, 3, 0);
  Value bd = basicConv(b, x, "branch7x7dbl_1", c7, 1);
  bd = basicConv(b, bd, "branch7x7dbl_2", c7, 7, 1, 1, 3, 0);
  bd = basicConv(b, bd, "branch7x7dbl_3", c7, 1, 7, 1, 0, 3);
  bd = basicConv(b, bd, "branch7x7dbl_4", c7, 7, 1, 1, 3, 0);
  bd = basicConv(b, bd, "branch7x7dbl_5", 192, 1, 7, 1, 0, 3);
  Value bp = poolBranch(b, x, 192);
  return b.concat({b1, b7, bd, bp}, 1, "concat");
}

Value inceptionD(ModelBuilder &b, Value x) {
  Value b3 = basicConv(b, x, "branch3x3_1", 192, 1);
  b3 = basicConv(b, b3, "branch3x3_2", 320, 3, 3, 2);
  Value b7 = basicConv(b, x, "branch7x7x3_1", 192, 1);
  b7 = basicConv(b, b7, "branch7x7x3_2", 192, 1, 7, 1, 0, 3);
  b7 = basicConv(b, b7, "branch7x7x3_3", 192, 7, 1, 1, 3, 0);
  b7 = basicConv(b, b7, "branch7x7x3_4", 192, 3, 3, 2);
  Value bp = b.maxPool(x, 3, 2, 0, "max_pool");
  return b.concat({b3, b7, bp}, 1, "concat");
}

Value inceptionE(ModelBuilder &b, Value x) {
  Value b1 = basicConv(b, x, "branch1x1", 320, 1);
  Value b3 = basicConv(b, x, "branch3x3_1", 384, 1);
  Value b3a = basicConv(b, b3, "branch3x3_2a", 384, 1, 3, 1, 0, 1);
  Value b3b = basicConv(b, b3, "branch3x3_2b", 384, 3, 1, 1, 1, 0);
  b3 = b.concat({b3a, b3b}, 1, "branch3x3.concat");
  Value bd = basicConv(b, x, "branch3x3dbl_1", 448, 1);
  bd = basicConv(b, bd, "branch3x3dbl_2", 384, 3);
  Value bda = basicConv(b, bd, "branch3x3dbl_3a", 384, 1, 3, 1, 0, 1);
  Value bdb = basicConv(b, bd, "branch3x3dbl_3b", 384, 3, 1, 1, 1, 0);
  bd = b.concat({bda, bdb}, 1, "branch3x3dbl.concat");
  Value bp = poolBranch(b, x, 192);
  return b.concat({b1, b3, bd, bp}, 1, "concat");
}

/// Side of Mixed_6e's output for an input of side `s` (torchvision's stem
/// and reductions; see buildInceptionV3).
int64_t inceptionMixed6Side(int64_t s) {
  s = (s - 3) / 2 + 1; // Conv2d_1a_3x3, stride 2
  s -= 2;              // Conv2d_2a_3x3
  s = (s - 3) / 2 + 1; // maxpool1
  s -= 2;              // Conv2d_4a_3x3
  s = (s - 3) / 2 + 1; // maxpool2: Mixed_5*
  return (s - 3) / 2 + 1; // Mixed_6a
}
} // namespace

OwningOpRef<ModuleOp>
soap::zoo::buildInceptionV3(MLIRContext &ctx, const InceptionV3Options &o) {
  return runBuilder(ctx, "inception_v3", o.dtype, [&](ModelBuilder &b) {
    b.setWidthDivisor(o.widthDivisor);
    checkImageOptions(b, o.batch, o.imageSize, o.numClasses, 75);
    if (o.auxLogits && inceptionMixed6Side(o.imageSize) < 17)
      b.fail("the auxiliary classifier needs a 17x17 Mixed_6e output, i.e. "
             "image-size at least 299, got " + Twine(o.imageSize));
    Value x = b.input("images", {o.batch, 3, o.imageSize, o.imageSize});
    Value labels = b.indexInput("labels", {o.batch});
    x = basicConv(b, x, "Conv2d_1a_3x3", 32, 3, 3, 2);
    x = basicConv(b, x, "Conv2d_2a_3x3", 32, 3, 3);
    x = basicConv(b, x, "Conv2d_2b_3x3", 64, 3);
    x = b.maxPool(x, 3, 2, 0, "maxpool1");
    x = basicConv(b, x, "Conv2d_3b_1x1", 80, 1);
    x = basicConv(b, x, "Conv2d_4a_3x3", 192, 3, 3);
    x = b.maxPool(x, 3, 2, 0, "maxpool2");
    auto mixed = [&](const char *name, auto block) {
      ModelBuilder::Scope scope(b, name);
      x = block(x);
    };
    mixed("Mixed_5b", [&](Value v) { return inceptionA(b, v, 32); });
    mixed("Mixed_5c", [&](Value v) { return inceptionA(b, v, 64); });
    mixed("Mixed_5d", [&](Value v) { return inceptionA(b, v, 64); });
    mixed("Mixed_6a", [&](Value v) { return inceptionB(b, v); });
    mixed("Mixed_6b", [&](Value v) { return inceptionC(b, v, 128); });
    mixed("Mixed_6c", [&](Value v) { return inceptionC(b, v, 160); });
    mixed("Mixed_6d", [&](Value v) { return inceptionC(b, v, 160); });
    mixed("Mixed_6e", [&](Value v) { return inceptionC(b, v, 192); });
    Value auxLoss;
    if (o.auxLogits) {
      ModelBuilder::Scope scope(b, "AuxLogits");
      Value a = b.avgPool(x, 5, 3, 0, false, "avg_pool");
      a = basicConv(b, a, "conv0", 128, 1);
      a = basicConv(b, a, "conv1", 768, 5, 5);
      a = b.adaptiveAvgPool(a, 1, "adaptive_avg_pool");
      a = b.flatten(a, "flatten");
      a = b.linear(a, o.numClasses, "fc", Init::normal(0.001));
      auxLoss = b.crossEntropy(a, labels, "loss");
    }
    mixed("Mixed_7a", [&](Value v) { return inceptionD(b, v); });
    mixed("Mixed_7b", [&](Value v) { return inceptionE(b, v); });
    mixed("Mixed_7c", [&](Value v) { return inceptionE(b, v); });
    x = b.globalAvgPool(x, "avgpool");
    x = b.dropout(x, o.dropout, "dropout");
    x = b.flatten(x, "flatten");
    x = b.linear(x, o.numClasses, "fc", Init::fanIn(shapeOf(x)[1]));
    Value loss = b.crossEntropy(x, labels, "main_loss");
    if (!auxLoss)
      return loss;
    // torchvision's training recipe: loss = main + 0.4 * aux.
    OpBuilder &ob = b.getBuilder();
    auto scalar = RankedTensorType::get({}, b.floatType());
    Attribute value = ob.getFloatAttr(b.floatType(), 0.4);
    Value weight = ConstantOp::create(ob, ob.getUnknownLoc(), scalar,
                                      DenseElementsAttr::get(scalar, value));
    Value aux = b.create<MulOp>("aux_loss_weight", auxLoss, weight).getResult();
    return b.add(loss, aux, "loss");
  });
}
