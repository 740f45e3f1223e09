//! The file operations the file store needs, and two places to do them: a directory, and
//! a simulated disk whose faults tests choose.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// A sync taken at one moment and run later, perhaps on another thread: once it has run,
/// what the file held at that moment survives a power loss.
pub type DeferredSync = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// Named append-only files.
pub trait Storage {
    /// The names of the files there are.
    fn list(&self) -> io::Result<Vec<String>>;
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// How many bytes `name` holds.
    fn size(&self, name: &str) -> io::Result<u64>;
    /// Writes `data` at the end of `name` (made when missing). The bytes are handed to
    /// the operating system before this returns: a crash of the process keeps them.
    fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()>;
    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()>;
    /// Makes what was appended to `name` survive a power loss.
    fn sync(&mut self, name: &str) -> io::Result<()>;
    /// [`Storage::sync`] of what `name` holds now, to run later.
    fn deferred_sync(&mut self, name: &str) -> io::Result<DeferredSync>;
    fn remove(&mut self, name: &str) -> io::Result<()>;
    /// Replaces the whole of `name` with `data`, durably and all at once: after a crash
    /// it holds the old bytes or the new, never a mix.
    fn replace(&mut self, name: &str, data: &[u8]) -> io::Result<()>;
}

/// Files in a directory.
#[derive(Debug)]
pub struct DirStorage {
    dir: PathBuf,
    open: HashMap<String, File>,
}

impl DirStorage {
    /// The directory, made when missing.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(DirStorage {
            dir,
            open: HashMap::new(),
        })
    }

    fn file(&mut self, name: &str) -> io::Result<&mut File> {
        if !self.open.contains_key(name) {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(self.dir.join(name))?;
            self.open.insert(name.to_owned(), file);
        }
        self.open
            .get_mut(name)
            .ok_or_else(|| io::Error::other("file vanished"))
    }
}

impl Storage for DirStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(name))
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = vec![0; len];
        match self.open.get(name) {
            Some(file) => file.read_exact_at(&mut out, offset)?,
            None => File::open(self.dir.join(name))?.read_exact_at(&mut out, offset)?,
        }
        Ok(out)
    }

    fn size(&self, name: &str) -> io::Result<u64> {
        Ok(std::fs::metadata(self.dir.join(name))?.len())
    }

    fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.file(name)?.write_all(data)
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        self.file(name)?.set_len(len)
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        self.file(name)?.sync_data()
    }

    fn deferred_sync(&mut self, name: &str) -> io::Result<DeferredSync> {
        let file = self.file(name)?.try_clone()?;
        Ok(Box::new(move || file.sync_data()))
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.open.remove(name);
        std::fs::remove_file(self.dir.join(name))
    }

    fn replace(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.open.remove(name);
        let temporary = self.dir.join(format!("{name}.tmp"));
        let mut file = File::create(&temporary)?;
        file.write_all(data)?;
        file.sync_data()?;
        std::fs::rename(&temporary, self.dir.join(name))?;
        File::open(&self.dir)?.sync_all()
    }
}

/// A simulated disk, shared by its clones: what a store wrote stays after the store is
/// dropped, for the next one to recover, unless a crash the test chose takes it.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    files: Arc<Mutex<HashMap<String, SimFile>>>,
}

#[derive(Debug, Clone, Default)]
struct SimFile {
    data: Vec<u8>,
    /// How much of `data` a power loss keeps.
    synced: usize,
}

impl SimStorage {
    pub fn new() -> Self {
        SimStorage::default()
    }

    fn files(&self) -> MutexGuard<'_, HashMap<String, SimFile>> {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A power loss: each file keeps what was synced, and `torn` bytes more of what was
    /// not (a write cut short).
    pub fn lose_power(&self, torn: usize) {
        for file in self.files().values_mut() {
            let keep = (file.synced + torn).min(file.data.len());
            file.data.truncate(keep);
            file.synced = keep;
        }
    }

    /// Flips the bits of `mask` in the byte at `offset` of `name`.
    pub fn flip(&self, name: &str, offset: usize, mask: u8) {
        if let Some(byte) = self
            .files()
            .get_mut(name)
            .and_then(|f| f.data.get_mut(offset))
        {
            *byte ^= mask;
        }
    }

    /// How long `name` is.
    pub fn len(&self, name: &str) -> usize {
        self.files().get(name).map_or(0, |f| f.data.len())
    }
}

fn missing(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, name.to_owned())
}

impl Storage for SimStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files().keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let files = self.files();
        let file = files.get(name).ok_or_else(|| missing(name))?;
        Ok(file.data.clone())
    }

    fn read_at(&self, name: &str, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let files = self.files();
        let file = files.get(name).ok_or_else(|| missing(name))?;
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        file.data
            .get(start..start + len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    fn size(&self, name: &str) -> io::Result<u64> {
        let files = self.files();
        let file = files.get(name).ok_or_else(|| missing(name))?;
        Ok(file.data.len() as u64)
    }

    fn append(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut files = self.files();
        files
            .entry(name.to_owned())
            .or_default()
            .data
            .extend_from_slice(data);
        Ok(())
    }

    fn truncate(&mut self, name: &str, len: u64) -> io::Result<()> {
        let mut files = self.files();
        let file = files.get_mut(name).ok_or_else(|| missing(name))?;
        let len = usize::try_from(len).map_err(io::Error::other)?;
        file.data.truncate(len);
        file.synced = file.synced.min(len);
        Ok(())
    }

    fn sync(&mut self, name: &str) -> io::Result<()> {
        let mut files = self.files();
        let file = files.get_mut(name).ok_or_else(|| missing(name))?;
        file.synced = file.data.len();
        Ok(())
    }

    fn deferred_sync(&mut self, name: &str) -> io::Result<DeferredSync> {
        let upto = self.len(name);
        let disk = self.clone();
        let name = name.to_owned();
        Ok(Box::new(move || {
            // A file removed meanwhile has nothing left to keep.
            if let Some(file) = disk.files().get_mut(&name) {
                file.synced = file.synced.max(upto.min(file.data.len()));
            }
            Ok(())
        }))
    }

    fn remove(&mut self, name: &str) -> io::Result<()> {
        self.files()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| missing(name))
    }

    fn replace(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let file = SimFile {
            data: data.to_vec(),
            synced: data.len(),
        };
        self.files().insert(name.to_owned(), file);
        Ok(())
    }
}
