package filedrop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Subfolders of the inbox.
const (
	ProcessedDir = "processed"
	FailedDir    = "failed"
)

// ErrorSuffix is appended to a failed file's name for the file that says
// what is wrong with it.
const ErrorSuffix = ".error"

// ignored reports whether an inbox entry is left alone: hidden files and
// the names writers use before they rename a finished file in
// (.tmp, .part, .partial), and error files.
func ignored(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") {
		return true
	}
	for _, s := range []string{".tmp", ".part", ".partial", ".crdownload", ErrorSuffix} {
		if strings.HasSuffix(strings.ToLower(name), s) {
			return true
		}
	}
	return false
}

// freeName finds a name in dir for name that is not taken, nor is its
// .error companion: name itself, else name with ".1", ".2", ... before
// its extension. Only the bridge writes into dir, and it processes one
// file at a time, so the name stays free until it is used.
func freeName(dir, name string) (string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; i <= MaxNameSuffix; i++ {
		cand := name
		if i > 0 {
			cand = stem + "." + strconv.Itoa(i) + ext
		}
		taken, err := exists(filepath.Join(dir, cand))
		if err != nil {
			return "", err
		}
		if !taken {
			if taken, err = exists(filepath.Join(dir, cand+ErrorSuffix)); err != nil {
				return "", err
			}
		}
		if !taken {
			return cand, nil
		}
	}
	return "", fmt.Errorf("filedrop: %s: more than %d files named %s: %w", dir, MaxNameSuffix, name, ErrNameExhausted)
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("filedrop: %w", err)
}

// isUnsupported: fsync of a directory is not supported here.
func isUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, os.ErrInvalid)
}
