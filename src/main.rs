//! `fringewatch` command-line interface.

mod cli;

fn main() {
    // Like any Unix filter, end quietly when the reader of our output goes away
    // (`fringewatch … | head`): Rust ignores SIGPIPE by default and `println!` would panic.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The program owns GDAL here (the library leaves a host's GDAL settings alone).
    fringewatch::raster::io::configure_gdal();
    std::process::exit(cli::run());
}
