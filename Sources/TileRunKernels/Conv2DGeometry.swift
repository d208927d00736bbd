/// The shape of a 2-D convolution as ONNX `Conv` describes it, with `auto_pad` already resolved
/// to explicit pads.
public struct Conv2DGeometry: Equatable, Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideY: Int
    public var strideX: Int
    public var dilationY: Int
    public var dilationX: Int
    public var padTop: Int
    public var padLeft: Int
    public var padBottom: Int
    public var padRight: Int
    /// Both channel counts are multiples of `groups`; `groups == inChannels` is depthwise.
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernelHeight: Int, kernelWidth: Int,
                strideY: Int = 1, strideX: Int = 1, dilationY: Int = 1, dilationX: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0, groups: Int = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        self.dilationY = dilationY
        self.dilationX = dilationX
        self.padTop = padTop
        self.padLeft = padLeft
        self.padBottom = padBottom
        self.padRight = padRight
        self.groups = groups
    }

    /// Output height and width for an input of `height` × `width` (floor division, as ONNX does);
    /// 0 where the padded input is smaller than the dilated kernel.
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let spanY = height + padTop + padBottom - (dilationY * (kernelHeight - 1) + 1)
        let spanX = width + padLeft + padRight - (dilationX * (kernelWidth - 1) + 1)
        return (spanY < 0 ? 0 : spanY / strideY + 1, spanX < 0 ? 0 : spanX / strideX + 1)
    }

    /// Input channels seen by one output channel.
    public var inChannelsPerGroup: Int { inChannels / groups }
    public var outChannelsPerGroup: Int { outChannels / groups }

    var isValid: Bool {
        inChannels > 0 && outChannels > 0 && kernelHeight > 0 && kernelWidth > 0 && strideY > 0 && strideX > 0
            && dilationY > 0 && dilationX > 0 && padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0
            && groups > 0 && inChannels % groups == 0 && outChannels % groups == 0
    }
}
