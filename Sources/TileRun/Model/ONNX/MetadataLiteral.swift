import Foundation

/// A value written in a metadata property: JSON, or the Python literal notation that `str(dict)`
/// produces and Deepness models carry (single quotes, integer keys, True/False/None, tuples).
indirect enum MetadataLiteral: Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case list([MetadataLiteral])
    /// Entries in the order written; keys may be any literal (Python dicts use integers).
    case dict([Entry])

    struct Entry: Equatable {
        var key: MetadataLiteral
        var value: MetadataLiteral
    }

    /// Parses the whole of `text`; nil when it is not one well-formed literal.
    init?(parsing text: String) {
        var parser = Parser(scalars: Array(text.unicodeScalars))
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        guard parser.index == parser.scalars.count else { return nil }
        self = value
    }

    /// The number this literal holds, also when written as a string ("512").
    var number: Double? {
        switch self {
        case .number(let v): return v
        case .string(let s): return Double(s.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }

    /// A whole number, also when written as a string or as 512.0.
    var integer: Int? {
        guard let v = number, v.rounded() == v, abs(v) < 1e15 else { return nil }
        return Int(v)
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0

        mutating func skipWhitespace() {
            while index < scalars.count, scalars[index].properties.isWhitespace { index += 1 }
        }

        mutating func value(depth: Int) -> MetadataLiteral? {
            // Metadata values are short; deep nesting is malformed, not a reason to exhaust the stack.
            guard depth < 32 else { return nil }
            skipWhitespace()
            guard index < scalars.count else { return nil }
            switch scalars[index] {
            case "{": return dict(depth: depth)
            case "[": return list(closing: "]", depth: depth)
            case "(": return list(closing: ")", depth: depth)
            case "\"", "'": return string().map { .string($0) }
            default: return word()
            }
        }

        private mutating func list(closing: Unicode.Scalar, depth: Int) -> MetadataLiteral? {
            index += 1
            var items: [MetadataLiteral] = []
            while true {
                skipWhitespace()
                if index < scalars.count, scalars[index] == closing { index += 1; return .list(items) }
                guard let item = value(depth: depth + 1) else { return nil }
                items.append(item)
                guard separator(closing: closing) else { return nil }
            }
        }

        private mutating func dict(depth: Int) -> MetadataLiteral? {
            index += 1
            var entries: [Entry] = []
            while true {
                skipWhitespace()
                if index < scalars.count, scalars[index] == "}" { index += 1; return .dict(entries) }
                guard let key = value(depth: depth + 1) else { return nil }
                skipWhitespace()
                guard index < scalars.count, scalars[index] == ":" else { return nil }
                index += 1
                guard let item = value(depth: depth + 1) else { return nil }
                entries.append(Entry(key: key, value: item))
                guard separator(closing: "}") else { return nil }
            }
        }

        /// After an item: a comma (a trailing one before the closing bracket is allowed, as in
        /// Python) or the closing bracket, which is left for the caller.
        private mutating func separator(closing: Unicode.Scalar) -> Bool {
            skipWhitespace()
            guard index < scalars.count else { return false }
            if scalars[index] == "," { index += 1; return true }
            return scalars[index] == closing
        }

        private mutating func string() -> String? {
            let quote = scalars[index]
            index += 1
            var result = String.UnicodeScalarView()
            while index < scalars.count {
                let c = scalars[index]
                index += 1
                if c == quote { return String(result) }
                guard c == "\\" else { result.append(c); continue }
                guard index < scalars.count else { return nil }
                let escaped = scalars[index]
                index += 1
                switch escaped {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "u":
                    guard index + 4 <= scalars.count,
                          let code = UInt32(String(String.UnicodeScalarView(scalars[index..<index + 4])), radix: 16),
                          let scalar = Unicode.Scalar(code) else { return nil }
                    index += 4
                    result.append(scalar)
                default: result.append(escaped)
                }
            }
            return nil
        }

        private mutating func word() -> MetadataLiteral? {
            let start = index
            while index < scalars.count, !",:]})".unicodeScalars.contains(scalars[index]),
                  !scalars[index].properties.isWhitespace {
                index += 1
            }
            let text = String(String.UnicodeScalarView(scalars[start..<index]))
            switch text {
            case "true", "True": return .bool(true)
            case "false", "False": return .bool(false)
            case "null", "None": return .null
            default: return Double(text).map { .number($0) }
            }
        }
    }
}
