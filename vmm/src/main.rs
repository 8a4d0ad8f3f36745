fn main() {
    eprintln!("hull-vmm: not built yet");
    std::process::exit(1);
}
