/// The trainer's version, recorded in every run.json.
public enum TrainerVersion {
  public static let string = "0.1.0"
}
