/// tilerun's version, recorded in manifests and reports.
public enum TileRunVersion {
    public static let string = "0.1.0"
}
