// The resume journal: a crash-safe record of the rows a run has produced for one output, kept
// beside the output as `<out_base>.resume`, so that a killed run can continue from its last
// complete chunk (`posebatch analyze --resume`).
//
// Why a journal of our own: an HDF5 file killed mid-write is not reliably readable, and the
// outputs are written under temporary names anyway. The journal is append-only and simple:
//
//   "posebatch-resume-journal 1\n"
//   u32 header length, header text ("key=value\n" lines), u32 CRC-32 of the text
//   chunks: u32 magic "PBCK", u32 rows, i64 first frame, rows x (i64 frame, f32 x ncols),
//           u32 CRC-32 of everything in the chunk after the magic
//   With boxes (top-down and CTD runs, whose _full.pickle keeps each frame's boxes), each row
//   also carries u32 n, f32 x 4n boxes (x, y, w, h), f32 x n scores.
//
// Each chunk is written with one write() and fdatasync'ed before the next rows are accepted, so
// after a kill (or power loss) every chunk before the last is intact; a torn or corrupt chunk
// and everything after it are discarded, never trusted. The header names everything the rows
// depend on (model, options, video); a journal whose header differs is stale. Numbers are
// stored in the host's byte order (little-endian is required at compile time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "posebatch/writer.h"

namespace posebatch {

// What a journal's rows are valid for, as ordered key/value pairs. Values must not hold '\n'.
using JournalHeader = std::vector<std::pair<std::string, std::string>>;

// What ReadJournal found. A plain value.
struct JournalContents {
  std::string problem;  // why the journal cannot be used at all; empty = header is intact
  JournalHeader header;
  int64_t chunks = 0;                                 // intact chunks read
  std::vector<int64_t> frames;                        // frame number of each row, in order
  std::vector<float> values;                          // frames.size() x ncols, row-major
  std::vector<std::vector<float>> boxes, box_scores;  // with boxes: per row, 4n and n values
  uint64_t valid_bytes = 0;                           // length of the intact prefix: header + whole chunks
  uint64_t discarded_bytes = 0;                       // torn or corrupt tail that was ignored
  int64_t rows() const { return static_cast<int64_t>(frames.size()); }
};

// Reads the header and every intact chunk of the journal at `path`, stopping at the first torn
// or corrupt chunk (or one whose rows are not ncols wide, or whose frames do not follow on).
// Never throws for bad contents (they end up in `problem` / `discarded_bytes`); throws Error
// only when the file exists but cannot be read.
// `with_boxes`: the rows carry boxes (as the writer was created).
JournalContents ReadJournal(const std::string& path, size_t ncols, bool with_boxes = false);

// Names the first field that differs, e.g. "batch_size (journal 8, now 4)"; empty if equal.
std::string HeaderMismatch(const JournalHeader& expected, const JournalHeader& found);

// A PoseWriter that appends rows to the journal at `path` in chunks of `chunk_rows` rows.
// `resume`: null starts a new journal (replacing any file there); otherwise the journal that
// ReadJournal returned is cut back to its intact prefix and continued (its rows are not
// appended again). Commit deletes the journal (the real outputs are then complete); Abort keeps
// it when it holds at least one chunk, so that --resume can continue, and deletes it otherwise.
// Rows that do not fill a chunk are never written. Labels (image runs) are not journaled.
// `with_boxes`: each row also keeps the boxes AppendBoxes gave just before it.
// Throws Error naming the path when the journal cannot be created or written.
// Not thread-safe: one writer thread drives it, as every PoseWriter.
std::unique_ptr<PoseWriter> CreateJournalWriter(const std::string& path, const JournalHeader& header, size_t ncols,
                                                int64_t chunk_rows, const JournalContents* resume,
                                                bool with_boxes = false);

// Chunk length for a batch size: a multiple of it (so a resumed run forms the same batches as
// an uninterrupted one, hence the same values), about 256 rows.
int64_t JournalChunkRows(int batch_size);

// Fingerprints for the header: CRC-32 of a whole file plus its size ("size:crc"), of only its
// first and last 64 KiB plus its size (cheap, for videos), and of a string. Throw Error naming
// the path when the file cannot be read.
std::string FingerprintFile(const std::string& path);
std::string FingerprintFileEnds(const std::string& path);
std::string FingerprintText(const std::string& text);

}  // namespace posebatch
