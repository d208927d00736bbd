// Times the TileRunKernels convolutions of the reference U-Net at 512 × 512 and a 1024³ SGEMM,
// with 1 and 2 threads, and prints GFLOP/s. `kernel-bench [threads...] [name filter...]` runs the given
// thread counts and only the layers whose name contains a filter (then skips SGEMM).
// Build with `swift build -c release --scratch-path .build-kernels`.
import Foundation
import TileRunKernels

struct Layer {
    var name: String
    var inChannels: Int
    var outChannels: Int
    var size: Int
    var kernel: Int = 3
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
]

/// Deterministic values in [-1, 1) (the system generator is slow enough to dominate set-up).
func randomArray(_ count: Int) -> [Float] {
    var state: UInt64 = 0x9E3779B97F4A7C15 &* UInt64(count)
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int32(truncatingIfNeeded: state >> 32)) / 2_147_483_648
    }
}

/// Best of several runs (at least 3 and 0.3 s), in seconds of wall-clock time and of process CPU time
/// per thread. On a shared machine the CPU-time rate shows what the kernels do while they have a core.
func bestTime(threads: Int, _ body: () -> Void) -> (wall: Double, cpu: Double) {
    func cpuNow() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
    body()
    var best = (wall: Double.infinity, cpu: Double.infinity), total = 0.0, runs = 0
    while runs < 3 || total < 0.3 {
        let start = DispatchTime.now().uptimeNanoseconds, cpuStart = cpuNow()
        body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        best = (min(best.wall, seconds), min(best.cpu, (cpuNow() - cpuStart) / Double(threads)))
        total += seconds
        runs += 1
    }
    return best
}

let threadCounts = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let filters = CommandLine.arguments.dropFirst().filter { Int($0) == nil }
for threads in threadCounts.isEmpty ? [1, 2] : threadCounts {
    print("== \(threads) thread\(threads == 1 ? "" : "s")")
    var groupTime: [String: Double] = [:], groupFlops: [String: Double] = [:]
    var totalTime = 0.0, totalCPU = 0.0, totalFlops = 0.0
    for layer in layers where filters.isEmpty || filters.contains(where: { layer.name.contains($0) }) {
        let k = layer.kernel, pad = k / 2
        let geometry = Conv2DGeometry(inChannels: layer.inChannels, outChannels: layer.outChannels,
                                      kernelHeight: k, kernelWidth: k,
                                      padTop: pad, padLeft: pad, padBottom: pad, padRight: pad)
        let conv = Conv2DKernel(geometry: geometry,
                                weights: randomArray(layer.outChannels * layer.inChannels * k * k),
                                bias: randomArray(layer.outChannels), activation: k == 1 ? .none : .relu)
        let input = randomArray(layer.inChannels * layer.size * layer.size)
        var output = [Float](repeating: 0, count: layer.outChannels * layer.size * layer.size)
        let seconds = input.withUnsafeBufferPointer { i in
            output.withUnsafeMutableBufferPointer { o in
                bestTime(threads: threads) {
                    conv.run(input: i.baseAddress!, batch: 1, height: layer.size, width: layer.size,
                             output: o.baseAddress!, threads: threads)
                }
            }
        }
        let flops = conv.flops(height: layer.size, width: layer.size)
        print(String(format: "%-16@ %4d²  %7.2f ms  %6.1f GFLOP/s  (CPU time: %6.1f GFLOP/s per thread)",
                     layer.name as NSString, layer.size, seconds.wall * 1e3, flops / seconds.wall * 1e-9,
                     flops / seconds.cpu * 1e-9))
        groupTime[layer.group, default: 0] += seconds.wall
        groupFlops[layer.group, default: 0] += flops
        totalTime += seconds.wall
        totalCPU += seconds.cpu
        totalFlops += flops
    }
    if !filters.isEmpty { continue }
    for group in ["512²", "256²", "128²", "64²", "32²"] {
        print(String(format: "  layers @%-5@ %7.2f ms  %6.1f GFLOP/s", group as NSString,
                     groupTime[group]! * 1e3, groupFlops[group]! / groupTime[group]! * 1e-9))
    }
    print(String(format: "U-Net convs: %.2f GFLOP in %.1f ms = %.1f GFLOP/s (%.2f tiles/s; CPU time: %.1f GFLOP/s per thread)",
                 totalFlops * 1e-9, totalTime * 1e3, totalFlops / totalTime * 1e-9, 1 / totalTime,
                 totalFlops / totalCPU * 1e-9))

    let n = 1024
    let a = randomArray(n * n), b = randomArray(n * n)
    var c = [Float](repeating: 0, count: n * n)
    let seconds = a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
                bestTime(threads: threads) {
                    sgemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a.baseAddress!, lda: n,
                          b: b.baseAddress!, ldb: n, beta: 0, c: c.baseAddress!, ldc: n, threads: threads)
                }
            }
        }
    }
    let flops = 2 * pow(Double(n), 3)
    print(String(format: "sgemm 1024³: %.2f ms = %.1f GFLOP/s (CPU time: %.1f GFLOP/s per thread)", seconds.wall * 1e3,
                 flops / seconds.wall * 1e-9, flops / seconds.cpu * 1e-9))
}
