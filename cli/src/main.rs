//! `hull`: Docker's user experience, every container in its own KVM virtual machine.

mod host;

fn main() {
    let facts = host::HostFacts::detect();
    println!("{facts:?} {:?}", facts.default_engine());
}
