import Foundation

/// A failure reading or writing the manifest, the lock, or a file written through `AtomicFile`:
/// always one line, naming the file and the problem.
public struct ManifestError: Error, CustomStringConvertible, Equatable {
    /// The file the problem is in.
    public let path: String
    /// What went wrong, in one line.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\t" }).joined(separator: " ")
    }

    public var description: String { "\(path): \(problem)" }
}

/// The text of the current `errno`.
func errnoText() -> String { String(cString: strerror(errno)) }
