// Times the TileRunKernels convolutions of the reference U-Net at 512 × 512 (and, outside its totals,
// a few other convolution shapes) and a 1024³ SGEMM, with 1 and 2 threads, and prints GFLOP/s, counting
// direct-convolution FLOPs whatever the algorithm. `kernel-bench [threads...] [rounds=N] [compare]
// [name filter...]` runs the given thread counts and only the cases whose name contains a filter ("sgemm"
// for SGEMM); `compare` runs each 3×3 stride-1 convolution both as implicit GEMM and as Winograd.
// Build with `swift build -c release --scratch-path .build-kernels`.
import Foundation
import TileRunKernels

struct Layer {
    var name: String
    var inChannels: Int
    var outChannels: Int
    /// Input height and width.
    var size: Int
    var kernel: Int = 3
    var stride = 1
    var groups = 1
    /// The U-Net group it counts in ("" for none).
    var group: String
}

let layers: [Layer] = [
    Layer(name: "enc 3→16", inChannels: 3, outChannels: 16, size: 512, group: "512²"),
    Layer(name: "enc 16→16", inChannels: 16, outChannels: 16, size: 512, group: "512²"),
    Layer(name: "enc 16→32", inChannels: 16, outChannels: 32, size: 256, group: "256²"),
    Layer(name: "enc 32→32", inChannels: 32, outChannels: 32, size: 256, group: "256²"),
    Layer(name: "enc 32→64", inChannels: 32, outChannels: 64, size: 128, group: "128²"),
    Layer(name: "enc 64→64", inChannels: 64, outChannels: 64, size: 128, group: "128²"),
    Layer(name: "enc 64→128", inChannels: 64, outChannels: 128, size: 64, group: "64²"),
    Layer(name: "enc 128→128", inChannels: 128, outChannels: 128, size: 64, group: "64²"),
    Layer(name: "mid 128→256", inChannels: 128, outChannels: 256, size: 32, group: "32²"),
    Layer(name: "mid 256→256", inChannels: 256, outChannels: 256, size: 32, group: "32²"),
    Layer(name: "dec 256→128", inChannels: 256, outChannels: 128, size: 64, group: "64²"),
    Layer(name: "dec 128→128", inChannels: 128, outChannels: 128, size: 64, group: "64²"),
    Layer(name: "dec 128→64", inChannels: 128, outChannels: 64, size: 128, group: "128²"),
    Layer(name: "dec 64→64", inChannels: 64, outChannels: 64, size: 128, group: "128²"),
    Layer(name: "dec 64→32", inChannels: 64, outChannels: 32, size: 256, group: "256²"),
    Layer(name: "dec 32→32", inChannels: 32, outChannels: 32, size: 256, group: "256²"),
    Layer(name: "dec 32→16", inChannels: 32, outChannels: 16, size: 512, group: "512²"),
    Layer(name: "dec 16→16", inChannels: 16, outChannels: 16, size: 512, group: "512²"),
    Layer(name: "head 1×1 16→6", inChannels: 16, outChannels: 6, size: 512, kernel: 1, group: "512²"),
    // Other shapes: the patch path (stride 2), plain GEMM (pointwise), grouped, depthwise (MobileNet).
    Layer(name: "s2 32→64", inChannels: 32, outChannels: 64, size: 256, stride: 2, group: ""),
    Layer(name: "1×1 64→128", inChannels: 64, outChannels: 128, size: 128, kernel: 1, group: ""),
    Layer(name: "g4 64→64", inChannels: 64, outChannels: 64, size: 128, groups: 4, group: ""),
    Layer(name: "dw 96", inChannels: 96, outChannels: 96, size: 112, groups: 96, group: ""),
    Layer(name: "dw s2 96", inChannels: 96, outChannels: 96, size: 112, stride: 2, groups: 96, group: ""),
]

/// Deterministic values in [-1, 1) (the system generator is slow enough to dominate set-up).
func randomArray(_ count: Int) -> [Float] {
    var state: UInt64 = 0x9E3779B97F4A7C15 &* UInt64(count)
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int32(truncatingIfNeeded: state >> 32)) / 2_147_483_648
    }
}

/// Best wall-clock time of `runs` runs, in seconds.
func bestTime(runs: Int, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
    }
    return best
}

/// A benchmark case with its buffers, run as `run(threads)`.
struct Case {
    var name: String
    var group: String
    var flops: Double
    var run: (Int) -> Void
}

func convCase(_ layer: Layer, _ algorithm: ConvAlgorithm) -> Case {
    let k = layer.kernel, pad = k / 2
    let geometry = Conv2DGeometry(inChannels: layer.inChannels, outChannels: layer.outChannels,
                                  kernelHeight: k, kernelWidth: k, strideY: layer.stride, strideX: layer.stride,
                                  padTop: pad, padLeft: pad, padBottom: pad, padRight: pad, groups: layer.groups)
    let conv = Conv2DKernel(geometry: geometry,
                            weights: randomArray(layer.outChannels * geometry.inChannelsPerGroup * k * k),
                            bias: randomArray(layer.outChannels), activation: k == 1 ? .none : .relu,
                            algorithm: algorithm)
    let out = geometry.outputSize(height: layer.size, width: layer.size)
    let inputCount = layer.inChannels * layer.size * layer.size, outputCount = layer.outChannels * out.height * out.width
    let input = UnsafeMutablePointer<Float>.allocate(capacity: inputCount)
    input.initialize(from: randomArray(inputCount), count: inputCount)
    let output = UnsafeMutablePointer<Float>.allocate(capacity: outputCount)
    output.initialize(repeating: 0, count: outputCount)
    let suffix = [.implicitGemm: " gemm", .winograd: " wino"][algorithm] ?? ""
    return Case(name: "\(layer.name) @\(layer.size)²\(suffix)", group: layer.group,
                flops: conv.flops(height: layer.size, width: layer.size)) { threads in
        conv.run(input: input, batch: 1, height: layer.size, width: layer.size, output: output, threads: threads)
    }
}

func sgemmCase(_ n: Int) -> Case {
    let a = randomArray(n * n), b = randomArray(n * n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
    return Case(name: "sgemm \(n)³", group: "", flops: 2 * pow(Double(n), 3)) { threads in
        sgemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a, lda: n, b: b, ldb: n, beta: 0, c: c,
              ldc: n, threads: threads)
    }
}

// Arguments: thread counts, `rounds=N` (default 3), `compare`, and name filters.
let arguments = CommandLine.arguments.dropFirst()
let threadCounts = arguments.compactMap { Int($0) }
let rounds = arguments.first { $0.hasPrefix("rounds=") }.flatMap { Int($0.dropFirst(7)) } ?? 3
let compare = arguments.contains("compare")
let filters = arguments.filter { Int($0) == nil && !$0.hasPrefix("rounds=") && $0 != "compare" }
let cases = layers.filter { filters.isEmpty || filters.contains(where: $0.name.contains) }.flatMap { layer in
    let winogradShape = layer.kernel == 3 && layer.stride == 1 && layer.groups == 1
    return compare && winogradShape ? [convCase(layer, .implicitGemm), convCase(layer, .winograd)]
        : [convCase(layer, .automatic)]
}
    + (filters.isEmpty || filters.contains(where: "sgemm".contains) ? [sgemmCase(1024)] : [])
print("load average: " + ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"), terminator: "")
for threads in threadCounts.isEmpty ? [1, 2] : threadCounts {
    // Best of `rounds` sweeps over all cases (each case: best of 3 runs after a warm-up), so that a burst
    // of load from other processes on this shared machine spoils at most one sweep.
    var best = [Double](repeating: .infinity, count: cases.count)
    for _ in 0..<rounds {
        for (index, c) in cases.enumerated() {
            c.run(threads)
            best[index] = min(best[index], bestTime(runs: 3) { c.run(threads) })
        }
    }
    print("== \(threads) thread\(threads == 1 ? "" : "s"), best of \(rounds) rounds")
    var groupTime: [String: Double] = [:], groupFlops: [String: Double] = [:]
    for (c, seconds) in zip(cases, best) {
        print(c.name.padding(toLength: 27, withPad: " ", startingAt: 0)
              + String(format: "%8.2f ms  %6.1f GFLOP/s", seconds * 1e3, c.flops / seconds * 1e-9))
        if c.group.isEmpty { continue }
        groupTime[c.group, default: 0] += seconds
        groupFlops[c.group, default: 0] += c.flops
    }
    if compare {
        for (suffix, label) in [(" gemm", "implicit GEMM"), (" wino", "Winograd")] {
            let picked = zip(cases, best).filter { $0.0.name.hasSuffix(suffix) }
            let time = picked.map(\.1).reduce(0, +), flops = picked.map(\.0.flops).reduce(0, +)
            print(String(format: "compared layers, all as %@: %.1f ms = %.1f GFLOP/s", label as NSString, time * 1e3,
                         flops / time * 1e-9))
        }
    }
    guard filters.isEmpty, !compare else { continue }
    for group in ["512²", "256²", "128²", "64²", "32²"] {
        print(String(format: "  layers @%-5@ %8.2f ms  %6.1f GFLOP/s", group as NSString,
                     groupTime[group]! * 1e3, groupFlops[group]! / groupTime[group]! * 1e-9))
    }
    let time = groupTime.values.reduce(0, +), flops = groupFlops.values.reduce(0, +)
    print(String(format: "U-Net convs: %.2f GFLOP in %.1f ms = %.1f GFLOP/s (%.2f tiles/s)",
                 flops * 1e-9, time * 1e3, flops / time * 1e-9, 1 / time))
}
