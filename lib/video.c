/*
 * video: SPEC 3.1's videos through libavformat, libavcodec and libswscale.
 *
 * DESIGN. FFmpeg never opens a path: each pass makes an AVIOContext whose
 * read and seek go to a datasource stream (dataset_stream_*, so LOCAL and S3
 * read alike; a seek is the stream's) or to bytes in memory (the fuzz
 * target), and io_open is refused, so no reference inside a file (mov drefs,
 * playlists) can open anything. Only the container demuxers of SPEC 3.1's
 * extensions and the decoders of issue 17's codecs are allowed; the probe
 * reads at most VIDEO_PROBE_BYTES, avformat_find_stream_info is never
 * called (it would open decoders to guess parameters): the container's
 * declared size is checked against max_pixels (and av_image_check_size)
 * before a decoder exists, and the decoder gets max_pixels too, so a frame
 * that grows in-band is refused. av_max_alloc caps FFmpeg's single
 * allocations; the interrupt callback stops a pass on cancel.
 *
 * Two passes. The demux pass (the listing) reads every packet of the first
 * video stream without decoding: it counts the frames and records each
 * packet's presentation time and size; frames are indexed in presentation
 * order, so the index of every frame, decoded or not, is known before the
 * decode. A stream whose packets do not all have distinct times is indexed
 * in demux order and its pictures matched in output order. The decode pass demuxes again and
 * decodes on one thread (videos, or ranges of a long video's frames, are
 * spread over the pool one per task, so the result never depends on the
 * thread count); a decoded frame is matched to its index by its time.
 *
 * Ranges. The demux pass also records the cuts: keyframes that reset every
 * piece of decoder state a later frame reads (an H.264 IDR, found in the
 * packet's NAL units, not by the container's flag, which a recovery point
 * also gets; a VP8/VP9 keyframe; any MJPEG frame; no other codec) whose time
 * is above every earlier packet's and below every later one's, so frames
 * [cut, next cut) are exactly the packets between them in demux order,
 * whatever the B-frame reordering. video_decode_range seeks to its first
 * cut's packet (found by time, dts and size; a file read from the start when
 * the seek misses), decodes up to the next cut and flushes. That equals the
 * whole decode only when the keyframe decodes cleanly: a damaged one is
 * concealed from earlier pictures, so then (the keyframe comes out first,
 * before any frame is handed out) the range is decoded again from the cut
 * before, its earlier frames as references only, back to the start if need
 * be. Complaints about packets before the range are not the range's. A frame is corrupt when sending its packet
 * fails, when the decoder logged an error while decoding its packet (the
 * message is the reason), when the frame carries decode_error_flags or
 * AV_FRAME_FLAG_CORRUPT, or when the decoder never output it. Frames are
 * decoded at full quality (no skipped loop filter or IDCT, corrupt frames
 * output so they can be flagged) and then area-scaled by libswscale to what
 * the image pass's per-image work takes (image_check_pixels).
 */
#include "video.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

#include "dataset.h"
#include "util.h"

#define AVIO_BUF (1u << 20)

static const char *const demuxers = "mov,mp4,m4a,3gp,3g2,mj2,avi,matroska,webm";
static const char *const decoders[] = {
	"h264", "hevc", "vp8", "vp9", "libvpx", "libvpx-vp9", "av1", "libdav1d", "libaom-av1",
	"mjpeg", "mpeg4",
};

/* ---- the decoder's messages ---------------------------------------------- */

/*
 * FFmpeg's log is global: one callback records an error of the codec
 * context being driven on this thread (decoding is single-threaded and
 * synchronous, so a message belongs to the packet being decoded); every
 * other message is dropped, never printed.
 */
struct vlog {
	const void *cc;
	char msg[160];
};
static __thread struct vlog *tl_log;

static void log_cb(void *avcl, int level, const char *fmt, va_list ap)
{
	struct vlog *l = tl_log;

	if (l == NULL || avcl != l->cc || level > AV_LOG_ERROR || l->msg[0] != '\0')
		return;
	vsnprintf(l->msg, sizeof(l->msg), fmt, ap);
	size_t n = strlen(l->msg);
	while (n > 0 && (l->msg[n - 1] == '\n' || l->msg[n - 1] == ' ' || l->msg[n - 1] == '.'))
		l->msg[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)l->msg[i] < 0x20 || (unsigned char)l->msg[i] >= 0x7f)
			l->msg[i] = '?';
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
	av_log_set_callback(log_cb);
	av_max_alloc(VIDEO_MAX_ALLOC);
}

/* ---- I/O: a datasource stream or bytes in memory --------------------------- */

struct src {
	const struct dataset *ds;
	const char *path;
	struct ds_stream *st;
	uint64_t pos, size;
	const uint8_t *mem;	/* or NULL */
	int io_rc;		/* the datasource's error, if a read failed */
	volatile int *cancel;
};

static int src_read(void *opaque, uint8_t *buf, int n)
{
	struct src *s = opaque;

	if (s->mem != NULL) {
		size_t left = s->pos < s->size ? (size_t)(s->size - s->pos) : 0;
		size_t k = (size_t)n < left ? (size_t)n : left;
		if (k == 0)
			return AVERROR_EOF;
		memcpy(buf, s->mem + s->pos, k);
		s->pos += k;
		return (int)k;
	}
	ssize_t got = dataset_stream_read(s->st, buf, (size_t)n);
	if (got < 0) {
		s->io_rc = (int)got;
		return AVERROR(EIO);
	}
	if (got == 0)
		return AVERROR_EOF;
	s->pos += (uint64_t)got;
	return (int)got;
}

static int64_t src_seek(void *opaque, int64_t off, int whence)
{
	struct src *s = opaque;

	whence &= ~AVSEEK_FORCE;
	if (whence == AVSEEK_SIZE)
		return (int64_t)s->size;
	if (whence == SEEK_CUR)
		off += (int64_t)s->pos;
	else if (whence == SEEK_END)
		off += (int64_t)s->size;
	else if (whence != SEEK_SET)
		return AVERROR(EINVAL);
	if (off < 0 || (uint64_t)off > s->size)
		return AVERROR(EINVAL);
	if (s->mem == NULL) {
		int rc = dataset_stream_seek(s->st, (uint64_t)off);
		if (rc < 0) {
			s->io_rc = rc;
			return AVERROR(EIO);
		}
	}
	s->pos = (uint64_t)off;
	return off;
}

static int interrupt_cb(void *opaque)
{
	struct src *s = opaque;

	return s->cancel != NULL && *s->cancel != 0;
}

static int refuse_io_open(struct AVFormatContext *fc, AVIOContext **pb, const char *url,
			  int flags, AVDictionary **options)
{
	return AVERROR(EPERM);
}

/* ---- opening ------------------------------------------------------------- */

struct vctx {
	struct src src;
	AVIOContext *io;
	AVFormatContext *fc;
	int stream;
	const AVCodec *codec;
	char *reason;
	size_t rlen;
};

static enum video_status vfail(struct vctx *v, enum video_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum video_status vfail(struct vctx *v, enum video_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(v->reason, v->rlen, fmt, ap);
	va_end(ap);
	return st;
}

static const char *averr(int e, char *buf, size_t n)
{
	av_strerror(e, buf, n);
	return buf;
}

static void vclose(struct vctx *v)
{
	if (v->fc != NULL)
		avformat_close_input(&v->fc);
	if (v->io != NULL) {
		av_freep(&v->io->buffer);
		avio_context_free(&v->io);
	}
	if (v->src.st != NULL)
		dataset_stream_close(v->src.st);
	v->src.st = NULL;
}

static bool decoder_allowed(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(decoders); i++)
		if (strcmp(name, decoders[i]) == 0)
			return true;
	return false;
}

static enum video_status vopen(struct vctx *v, uint64_t max_pixels)
{
	char e[128];
	int rc;

	pthread_once(&once, init_once);
	if (v->src.mem == NULL) {
		rc = dataset_stream_open(v->src.ds, v->src.path, &v->src.st);
		if (rc < 0) {
			v->src.io_rc = rc;
			if (dataset_transient(v->src.ds, rc))
				return vfail(v, VID_IO, "cannot read: %s", strerror(-rc));
			return vfail(v, VID_CORRUPT, "cannot read: %s", strerror(-rc));
		}
		v->src.size = dataset_stream_size(v->src.st);
	}
	if (v->src.size == 0)
		return vfail(v, VID_CORRUPT, "empty file");
	uint8_t *buf = av_malloc(AVIO_BUF);
	if (buf == NULL)
		return vfail(v, VID_CORRUPT, "out of memory");
	v->io = avio_alloc_context(buf, AVIO_BUF, 0, &v->src, src_read, NULL, src_seek);
	if (v->io == NULL) {
		av_free(buf);
		return vfail(v, VID_CORRUPT, "out of memory");
	}
	v->fc = avformat_alloc_context();
	if (v->fc == NULL)
		return vfail(v, VID_CORRUPT, "out of memory");
	v->fc->pb = v->io;
	v->fc->flags |= AVFMT_FLAG_CUSTOM_IO;
	v->fc->io_open = refuse_io_open;
	v->fc->interrupt_callback.callback = interrupt_cb;
	v->fc->interrupt_callback.opaque = &v->src;

	AVDictionary *opt = NULL;
	av_dict_set(&opt, "format_whitelist", demuxers, 0);
	av_dict_set(&opt, "protocol_whitelist", "none", 0);
	av_dict_set_int(&opt, "probesize", VIDEO_PROBE_BYTES, 0);
	av_dict_set_int(&opt, "formatprobesize", VIDEO_PROBE_BYTES, 0);
	av_dict_set_int(&opt, "analyzeduration", 0, 0);
	av_dict_set_int(&opt, "max_streams", 64, 0);
	av_dict_set_int(&opt, "max_index_size", 64 << 20, 0);
	av_dict_set_int(&opt, "max_probe_packets", 64, 0);
	av_dict_set_int(&opt, "enable_drefs", 0, 0);
	/* The demuxer's own words, when it says why it cannot open the file. */
	struct vlog lg = { .cc = v->fc }, *prev = tl_log;
	tl_log = &lg;
	rc = avformat_open_input(&v->fc, NULL, NULL, &opt);
	tl_log = prev;
	av_dict_free(&opt);
	if (rc < 0) {
		v->fc = NULL;	/* freed by avformat_open_input */
		if (v->src.io_rc != 0 && dataset_transient(v->src.ds, v->src.io_rc))
			return vfail(v, VID_IO, "cannot read: %s", strerror(-v->src.io_rc));
		if (lg.msg[0] != '\0')
			return vfail(v, VID_CORRUPT, "bad header: %s", lg.msg);
		if (rc == AVERROR_INVALIDDATA || rc == AVERROR_EOF)
			return vfail(v, VID_CORRUPT, "bad header: not a readable mp4, mov, avi, mkv or webm file");
		return vfail(v, VID_CORRUPT, "cannot open: %s", averr(rc, e, sizeof(e)));
	}
	v->stream = -1;
	for (unsigned i = 0; i < v->fc->nb_streams; i++) {
		if (v->fc->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
		    !(v->fc->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
			v->stream = (int)i;
			break;
		}
	}
	if (v->stream < 0)
		return vfail(v, VID_CORRUPT, "no video stream");
	AVCodecParameters *par = v->fc->streams[v->stream]->codecpar;
	/* The declared size, before any decoder exists. */
	if (par->width <= 0 || par->height <= 0)
		return vfail(v, VID_CORRUPT, "bad header: zero width or height");
	if ((uint64_t)par->width * (uint64_t)par->height > max_pixels)
		return vfail(v, VID_CORRUPT, "too many pixels: %dx%d", par->width, par->height);
	if (av_image_check_size((unsigned)par->width, (unsigned)par->height, 0, NULL) < 0)
		return vfail(v, VID_CORRUPT, "too many pixels: %dx%d", par->width, par->height);
	v->codec = avcodec_find_decoder(par->codec_id);
	if (v->codec == NULL || !decoder_allowed(v->codec->name))
		return vfail(v, VID_UNSUPPORTED, "unsupported: video codec %s",
			     avcodec_get_name(par->codec_id));
	/* Every other stream's packets are dropped by the demuxer. */
	for (unsigned i = 0; i < v->fc->nb_streams; i++)
		if ((int)i != v->stream)
			v->fc->streams[i]->discard = AVDISCARD_ALL;
	return VID_OK;
}

/* The key a packet or frame is indexed by: its pts, else its dts, else none. */
static int64_t pkt_key(int64_t pts, int64_t dts)
{
	return pts != AV_NOPTS_VALUE ? pts : dts;
}

/* ---- the demux pass ------------------------------------------------------ */

void video_info_free(struct video_info *vi)
{
	free(vi->key);
	free(vi->size);
	free(vi->cut);
	memset(vi, 0, sizeof(*vi));
}

char *video_frame_name(const char *path, uint64_t index, uint64_t nframes)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	int digits = 1;

	for (uint64_t n = nframes; n >= 10; n /= 10)
		digits++;
	if (dot == NULL)
		return xasprintf("%s-%0*" PRIu64 ".png", path, digits, index);
	return xasprintf("%.*s-%0*" PRIu64 "-%s.png", (int)(dot - path), path, digits, index, dot + 1);
}

struct pk {
	int64_t key;		/* INT64_MIN when the packet has no time */
	int64_t dts;
	uint64_t ord;
	uint32_t size;
	bool cut;		/* a keyframe that may start a range (so far) */
};

/*
 * Whether an H.264 access unit holds an IDR slice (NAL type 5): only an IDR
 * empties the reference lists, a keyframe flag alone (a recovery point) does
 * not. avcC (length-prefixed NAL units) or Annex B (start codes).
 */
static bool h264_idr(const AVCodecParameters *par, const uint8_t *p, int n)
{
	if (par->extradata_size >= 7 && par->extradata[0] == 1) {
		int ls = (par->extradata[4] & 3) + 1;
		for (int i = 0; i + ls < n;) {
			uint32_t l = 0;
			for (int k = 0; k < ls; k++)
				l = l << 8 | p[i + k];
			i += ls;
			if (l == 0 || l > (uint32_t)(n - i))
				return false;
			if ((p[i] & 0x1f) == 5)
				return true;
			i += (int)l;
		}
		return false;
	}
	for (int i = 0; i + 3 < n; i++)
		if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1 && (p[i + 3] & 0x1f) == 5)
			return true;
	return false;
}

/* Whether a keyframe of this codec resets every piece of decoder state a later frame reads. */
static bool clean_keyframe(const AVCodecParameters *par, const AVPacket *pkt)
{
	if (!(pkt->flags & AV_PKT_FLAG_KEY) || (pkt->flags & (AV_PKT_FLAG_CORRUPT | AV_PKT_FLAG_DISCARD)))
		return false;
	switch (par->codec_id) {
	case AV_CODEC_ID_MJPEG:
	case AV_CODEC_ID_VP8:
	case AV_CODEC_ID_VP9:
		return true;
	case AV_CODEC_ID_H264:
		return h264_idr(par, pkt->data, pkt->size);
	default:
		return false;
	}
}

static int cmp_pk(const void *a, const void *b)
{
	const struct pk *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int cmp_ord(const void *a, const void *b)
{
	const struct pk *x = a, *y = b;

	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static enum video_status probe(struct vctx *v, uint64_t max_pixels, struct video_info *vi)
{
	enum video_status st = vopen(v, max_pixels);
	char e[128];

	if (st != VID_OK)
		return st;
	AVCodecParameters *par = v->fc->streams[v->stream]->codecpar;
	AVPacket *pkt = av_packet_alloc();
	struct pk *pk = NULL;
	size_t n = 0, cap = 0;
	bool untimed = false;
	int rc;

	memset(vi, 0, sizeof(*vi));

	while ((rc = av_read_frame(v->fc, pkt)) >= 0) {
		if (pkt->stream_index == v->stream) {
			if (n == VIDEO_MAX_FRAMES) {
				av_packet_unref(pkt);
				st = vfail(v, VID_CORRUPT, "too many frames: more than %u", VIDEO_MAX_FRAMES);
				goto out;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				pk = xrealloc(pk, cap * sizeof(*pk));
			}
			pk[n].key = pkt_key(pkt->pts, pkt->dts);
			untimed = untimed || pk[n].key == AV_NOPTS_VALUE;
			pk[n].dts = pkt->dts;
			pk[n].ord = n;
			pk[n].size = (uint32_t)pkt->size;
			pk[n].cut = n > 0 && clean_keyframe(par, pkt);
			n++;
		}
		av_packet_unref(pkt);
	}
	if (rc != AVERROR_EOF) {
		if (v->src.io_rc != 0 && dataset_transient(v->src.ds, v->src.io_rc)) {
			st = vfail(v, VID_IO, "cannot read: %s", strerror(-v->src.io_rc));
			goto out;
		}
		if (rc == AVERROR_EXIT) {
			st = vfail(v, VID_CORRUPT, "cancelled");
			goto out;
		}
		/* A stream cut short still yields the frames before the damage. */
		if (n == 0) {
			st = vfail(v, VID_CORRUPT, "corrupt data: %s", averr(rc, e, sizeof(e)));
			goto out;
		}
	}
	if (n == 0) {
		st = vfail(v, VID_CORRUPT, "no frames");
		goto out;
	}
	/*
	 * Without a distinct time on every packet the demux order is the
	 * presentation order (and frames are matched in output order).
	 */
	/*
	 * A cut: a clean keyframe whose time is above every earlier packet's
	 * and below every later one's (in demux order), so the frames after it
	 * are exactly the packets after it, whatever the reordering.
	 */
	size_t ncuts = 0;
	if (!untimed) {
		int64_t mx = INT64_MIN;
		for (size_t i = 0; i < n; i++) {
			pk[i].cut = pk[i].cut && pk[i].key > mx;
			mx = pk[i].key > mx ? pk[i].key : mx;
		}
		int64_t mn = INT64_MAX;
		for (size_t i = n; i-- > 0;) {
			pk[i].cut = pk[i].cut && pk[i].key < mn;
			mn = pk[i].key < mn ? pk[i].key : mn;
			ncuts += pk[i].cut;
		}
		if (ncuts > 0) {
			vi->cut = xcalloc(ncuts, sizeof(*vi->cut));
			for (size_t i = 0; i < n; i++)
				if (pk[i].cut)
					vi->cut[vi->ncuts++] = (struct video_cut){
						.index = i, .key = pk[i].key, .dts = pk[i].dts,
						.size = pk[i].size };
		}
		qsort(pk, n, sizeof(*pk), cmp_pk);
		for (size_t i = 1; i < n && !untimed; i++)
			untimed = pk[i].key == pk[i - 1].key;
		if (untimed)
			qsort(pk, n, sizeof(*pk), cmp_ord);
	}
	if (untimed) {
		/* Frames matched in output order: no range can start mid-stream. */
		free(vi->cut);
		vi->cut = NULL;
		vi->ncuts = 0;
	}
	vi->width = (uint32_t)par->width;
	vi->height = (uint32_t)par->height;
	snprintf(vi->codec, sizeof(vi->codec), "%s", v->codec->name);
	vi->nframes = n;
	vi->tb_num = v->fc->streams[v->stream]->time_base.num;
	vi->tb_den = v->fc->streams[v->stream]->time_base.den;
	vi->key = xcalloc(n, sizeof(*vi->key));
	(void)ncuts;
	vi->size = xcalloc(n, sizeof(*vi->size));
	for (size_t i = 0; i < n; i++) {
		vi->key[i] = untimed ? INT64_MIN : pk[i].key;
		vi->size[i] = pk[i].size;
	}
out:
	if (st != VID_OK)
		video_info_free(vi);
	free(pk);
	av_packet_free(&pkt);
	return st;
}

enum video_status video_probe(const struct dataset *ds, const char *path, uint64_t max_pixels,
			      volatile int *cancel, struct video_info *vi, char *reason,
			      size_t rlen, int *io_rc)
{
	struct vctx v = { .src = { .ds = ds, .path = path, .cancel = cancel },
			  .reason = reason, .rlen = rlen };

	memset(vi, 0, sizeof(*vi));
	reason[0] = '\0';
	enum video_status st = probe(&v, max_pixels, vi);
	if (io_rc != NULL)
		*io_rc = v.src.io_rc;
	vclose(&v);
	return st;
}

/* ---- the decode pass ----------------------------------------------------- */

struct dec {
	const struct video_info *vi;
	uint64_t first, last;	/* the range decoded; done and why are indexed from first */
	uint64_t warm;		/* the cut decoding starts at (<= first; 0: the start) */
	bool key_bad;		/* warm's keyframe packet drew a complaint */
	bool judged, dirty;	/* warm's keyframe decoded with an error: start earlier */
	uint8_t *done;		/* per index: handed out */
	char **why;		/* per index: the decoder's complaint while decoding its packet */
	uint64_t next_open;	/* every index below is handed out */
	uint64_t next_free;	/* every index below is handed out or has a complaint */
	struct SwsContext *sws;
	uint8_t *rgb;
	size_t rgb_len;
	uint32_t max_side;
	video_frame_cb cb;
	void *ud;
};

/* The first index with key k not yet handed out and (want_free) without a complaint. */
static int64_t index_of(struct dec *d, int64_t k, bool want_free)
{
	const struct video_info *vi = d->vi;
	size_t lo = 0, hi = vi->nframes;

	if (vi->key[vi->nframes - 1] != INT64_MIN && k != AV_NOPTS_VALUE) {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (vi->key[mid] < k)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < d->first)
			lo = d->first;
		for (size_t i = lo; i < d->last && vi->key[i] == k; i++)
			if (!d->done[i - d->first] && (!want_free || d->why[i - d->first] == NULL))
				return (int64_t)i;
	}
	/*
	 * No time, or none left with it: the lowest index still open. The two
	 * cursors only move up, so a hostile file costs O(frames) in all here.
	 */
	uint64_t b = d->first;
	if (!want_free) {
		while (d->next_open < d->last && d->done[d->next_open - b])
			d->next_open++;
		return d->next_open < d->last ? (int64_t)d->next_open : -1;
	}
	while (d->next_free < d->last && (d->done[d->next_free - b] || d->why[d->next_free - b]))
		d->next_free++;
	return d->next_free < d->last ? (int64_t)d->next_free : -1;
}

static void hand_out_corrupt(struct dec *d, uint64_t i, const char *why)
{
	struct video_frame f = { .index = i, .corrupt = true, .reason = why };

	d->done[i - d->first] = 1;
	d->cb(d->ud, &f);
}

static void frame_out(struct dec *d, AVFrame *fr, const char *why_now)
{
	int64_t k = pkt_key(fr->pts, fr->pkt_dts);

	if (d->vi->key[d->vi->nframes - 1] == INT64_MIN)
		k = AV_NOPTS_VALUE;
	/*
	 * Decoding from a cut is the whole decode's only when its keyframe
	 * decodes cleanly (it comes out first, having the lowest time): a
	 * damaged keyframe is concealed from earlier pictures, so the caller
	 * starts again from the cut before.
	 */
	if (d->warm > 0 && !d->judged) {
		d->judged = true;
		d->dirty = k != d->vi->key[d->warm] || d->key_bad || fr->decode_error_flags != 0 ||
			   (fr->flags & AV_FRAME_FLAG_CORRUPT);
	}
	if (d->dirty)
		return;
	/* The frames of the cuts before the range (decoded as references) are not its own. */
	if (k != AV_NOPTS_VALUE && (k < d->vi->key[d->first] ||
				    (d->last < d->vi->nframes && k >= d->vi->key[d->last])))
		return;
	int64_t idx = index_of(d, k, false);
	char why[200];

	if (idx < 0)
		return;	/* more pictures than packets: nothing to name them by */
	why[0] = '\0';
	if (d->why[idx - (int64_t)d->first] != NULL)
		snprintf(why, sizeof(why), "%s", d->why[idx - (int64_t)d->first]);
	else if (why_now != NULL && why_now[0] != '\0')
		snprintf(why, sizeof(why), "corrupt data: %s", why_now);
	else if (fr->decode_error_flags != 0)
		snprintf(why, sizeof(why), "corrupt data: decode error flags 0x%x",
			 (unsigned)fr->decode_error_flags);
	else if (fr->flags & AV_FRAME_FLAG_CORRUPT)
		snprintf(why, sizeof(why), "corrupt data: frame flagged corrupt by the decoder");
	else if (fr->width <= 0 || fr->height <= 0 ||
		 av_image_check_size((unsigned)fr->width, (unsigned)fr->height, 0, NULL) < 0)
		snprintf(why, sizeof(why), "corrupt data: bad frame size %dx%d", fr->width, fr->height);
	if (why[0] != '\0') {
		hand_out_corrupt(d, (uint64_t)idx, why);
		return;
	}
	/* To RGB24, area-averaged to at most max_side a side. */
	uint32_t w = (uint32_t)fr->width, h = (uint32_t)fr->height, ow = w, oh = h;
	if (d->max_side > 0) {
		ow = w > d->max_side ? d->max_side : w;
		oh = h > d->max_side ? d->max_side : h;
	}
	d->sws = sws_getCachedContext(d->sws, fr->width, fr->height, fr->format, (int)ow, (int)oh,
				      AV_PIX_FMT_RGB24, SWS_AREA | SWS_ACCURATE_RND | SWS_BITEXACT,
				      NULL, NULL, NULL);
	size_t stride = ((size_t)ow * 3 + 63) & ~(size_t)63;
	if (d->sws == NULL) {
		snprintf(why, sizeof(why), "unsupported: pixel format %s",
			 av_get_pix_fmt_name(fr->format) ? av_get_pix_fmt_name(fr->format) : "?");
		hand_out_corrupt(d, (uint64_t)idx, why);
		return;
	}
	if (d->rgb_len < stride * oh + 64) {
		free(d->rgb);
		d->rgb_len = stride * oh + 64;
		d->rgb = xmalloc(d->rgb_len);
	}
	uint8_t *dst[4] = { d->rgb, NULL, NULL, NULL };
	int dst_stride[4] = { (int)stride, 0, 0, 0 };
	if (sws_scale(d->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst,
		      dst_stride) != (int)oh) {
		hand_out_corrupt(d, (uint64_t)idx, "corrupt data: cannot convert the picture");
		return;
	}
	struct video_frame f = {
		.index = (uint64_t)idx, .width = w, .height = h, .rgb = d->rgb, .stride = stride,
		.w = ow, .h = oh,
	};
	d->done[idx - (int64_t)d->first] = 1;
	d->cb(d->ud, &f);
}

/*
 * Leaves in pkt the keyframe packet of cut c with the demuxer just past it:
 * a seek to its time and a read up to the packet of the same time, dts and
 * size, else (the seek failed or landed past it) the file opened again and
 * read up to the packet at c's position. 0, or a negative AVERROR.
 */
static int seek_cut(struct vctx *v, const struct video_cut *c, uint64_t max_pixels, AVPacket *pkt)
{
	int64_t ts = c->dts != AV_NOPTS_VALUE ? c->dts : c->key;
	int rc;

	if (av_seek_frame(v->fc, v->stream, ts, AVSEEK_FLAG_BACKWARD) >= 0) {
		while ((rc = av_read_frame(v->fc, pkt)) >= 0) {
			if (pkt->stream_index != v->stream) {
				av_packet_unref(pkt);
				continue;
			}
			int64_t k = pkt_key(pkt->pts, pkt->dts);
			if (k == c->key && pkt->dts == c->dts && (uint32_t)pkt->size == c->size)
				return 0;
			av_packet_unref(pkt);
			if (k > c->key)
				break;
		}
		if (rc == AVERROR_EXIT)
			return rc;
	}
	vclose(v);
	v->src.pos = 0;
	v->src.io_rc = 0;
	if (vopen(v, max_pixels) != VID_OK)
		return AVERROR_INVALIDDATA;
	for (uint64_t ord = 0; (rc = av_read_frame(v->fc, pkt)) >= 0;) {
		if (pkt->stream_index == v->stream && ord++ == c->index)
			return 0;
		av_packet_unref(pkt);
	}
	return rc;
}

static enum video_status decode_from(struct vctx *v, const struct video_info *vi,
				     uint64_t first, uint64_t last, uint64_t warm,
				     uint64_t max_pixels, uint32_t max_side, video_frame_cb cb,
				     void *ud, bool *dirty)
{
	enum video_status st = vopen(v, max_pixels);
	AVCodecContext *cc = NULL;
	AVPacket *pkt = NULL;
	AVFrame *fr = NULL;
	struct dec d = { .vi = vi, .first = first, .last = last, .warm = warm, .next_open = first,
			 .next_free = first, .max_side = max_side, .cb = cb, .ud = ud };
	const struct video_cut *cut = NULL;
	struct vlog lg = { 0 };
	char e[128];
	int rc;

	if (st != VID_OK)
		return st;
	if (vi->nframes == 0)
		return vfail(v, VID_CORRUPT, "no frames");
	if (first >= last || last > vi->nframes)
		return vfail(v, VID_CORRUPT, "bad frame range");
	for (size_t i = 0; warm > 0 && i < vi->ncuts; i++)
		if (vi->cut[i].index == warm)
			cut = &vi->cut[i];
	if (warm > first || (warm > 0 && cut == NULL))
		return vfail(v, VID_CORRUPT, "bad frame range: %" PRIu64 " is not a keyframe", warm);
	cc = avcodec_alloc_context3(v->codec);
	if (cc == NULL)
		return vfail(v, VID_CORRUPT, "out of memory");
	AVStream *s = v->fc->streams[v->stream];
	if (avcodec_parameters_to_context(cc, s->codecpar) < 0) {
		st = vfail(v, VID_CORRUPT, "bad header: codec parameters");
		goto out;
	}
	cc->pkt_timebase = s->time_base;
	cc->thread_count = 1;
	cc->max_pixels = (int64_t)max_pixels;
	cc->skip_loop_filter = AVDISCARD_DEFAULT;
	cc->skip_idct = AVDISCARD_DEFAULT;
	cc->skip_frame = AVDISCARD_DEFAULT;
	cc->flags |= AV_CODEC_FLAG_OUTPUT_CORRUPT;
	cc->flags2 |= AV_CODEC_FLAG2_SHOW_ALL;
	AVDictionary *opt = NULL;
	av_dict_set(&opt, "threads", "1", 0);
	lg.cc = cc;
	tl_log = &lg;
	rc = avcodec_open2(cc, v->codec, &opt);
	av_dict_free(&opt);
	if (rc < 0) {
		st = vfail(v, VID_CORRUPT, "bad header: %s", lg.msg[0] ? lg.msg : averr(rc, e, sizeof(e)));
		goto out;
	}
	pkt = av_packet_alloc();
	fr = av_frame_alloc();
	d.done = xcalloc(last - first, 1);
	d.why = xcalloc(last - first, sizeof(*d.why));
	uint64_t npk = warm;
	bool flushing = false, have = false;
	if (cut != NULL) {
		tl_log = NULL;
		rc = seek_cut(v, cut, max_pixels, pkt);
		tl_log = &lg;
		if (rc == AVERROR_EXIT) {
			st = vfail(v, VID_CORRUPT, "cancelled");
			goto out;
		}
		if (rc < 0) {
			if (v->src.io_rc != 0 && dataset_transient(v->src.ds, v->src.io_rc)) {
				st = vfail(v, VID_IO, "cannot read: %s", strerror(-v->src.io_rc));
				goto out;
			}
			st = vfail(v, VID_CORRUPT, "cannot find the keyframe of frame %" PRIu64, first);
			goto out;
		}
		have = true;
	}
	for (;;) {
		if (!flushing && npk >= last) {
			/* The range's packets are all sent. */
			flushing = true;
			lg.msg[0] = '\0';
			avcodec_send_packet(cc, NULL);
		} else if (!flushing) {
			rc = have ? 0 : av_read_frame(v->fc, pkt);
			have = false;
			if (rc == AVERROR_EXIT) {
				st = vfail(v, VID_CORRUPT, "cancelled");
				goto out;
			}
			if (rc < 0) {
				if (v->src.io_rc != 0 && dataset_transient(v->src.ds, v->src.io_rc)) {
					st = vfail(v, VID_IO, "cannot read: %s", strerror(-v->src.io_rc));
					goto out;
				}
				flushing = true;
				lg.msg[0] = '\0';
				avcodec_send_packet(cc, NULL);
			} else if (pkt->stream_index != v->stream) {
				av_packet_unref(pkt);
				continue;
			} else {
				uint64_t ord = npk++;
				int64_t k = vi->key[vi->nframes - 1] == INT64_MIN ? AV_NOPTS_VALUE
					: pkt_key(pkt->pts, pkt->dts);
				lg.msg[0] = '\0';
				rc = avcodec_send_packet(cc, pkt);
				av_packet_unref(pkt);
				if ((rc < 0 || lg.msg[0] != '\0') && ord == warm && warm > 0)
					d.key_bad = true;
				/* A complaint about a frame before the range is not the range's. */
				if ((rc < 0 || lg.msg[0] != '\0') && ord >= first) {
					/* The packet's frame: its own complaint, its index by time. */
					int64_t idx = index_of(&d, k, true);
					if (idx >= 0 && d.why[idx - (int64_t)first] == NULL)
						d.why[idx - (int64_t)first] = lg.msg[0] ? xasprintf("corrupt data: %s", lg.msg)
							: xasprintf("corrupt data: %s", averr(rc, e, sizeof(e)));
				}
			}
		}
		for (;;) {
			rc = avcodec_receive_frame(cc, fr);
			if (rc < 0)
				break;
			frame_out(&d, fr, NULL);
			av_frame_unref(fr);
		}
		if (flushing || d.dirty)
			break;
	}
	if (d.dirty) {
		*dirty = true;
		goto out;
	}
	/* Frames the decoder never output: corrupt, with the complaint of their packet. */
	for (uint64_t i = first; i < last; i++)
		if (!d.done[i - first])
			hand_out_corrupt(&d, i, d.why[i - first] ? d.why[i - first]
					 : "corrupt data: no picture decoded");
	st = VID_OK;
out:
	tl_log = NULL;
	for (uint64_t i = 0; d.why != NULL && i < last - first; i++)
		free(d.why[i]);
	free(d.why);
	free(d.done);
	free(d.rgb);
	sws_freeContext(d.sws);
	av_frame_free(&fr);
	av_packet_free(&pkt);
	avcodec_free_context(&cc);
	return st;
}

enum video_status video_decode(const struct dataset *ds, const char *path,
			       const struct video_info *vi, uint64_t max_pixels, uint32_t max_side,
			       volatile int *cancel, video_frame_cb cb, void *ud, char *reason,
			       size_t rlen, int *io_rc)
{
	return video_decode_range(ds, path, vi, 0, vi->nframes, max_pixels, max_side, cancel, cb,
				  ud, reason, rlen, io_rc);
}

/*
 * Frames [first, last), decoding from first's cut, else (its keyframe was
 * damaged) from the cut before, and so on back to the start.
 */
static enum video_status decode(struct vctx *v, const struct video_info *vi, uint64_t first,
				uint64_t last, uint64_t max_pixels, uint32_t max_side,
				video_frame_cb cb, void *ud)
{
	uint64_t warm = first;
	size_t c = vi->ncuts;

	for (;;) {
		bool dirty = false;
		enum video_status st = decode_from(v, vi, first, last, warm, max_pixels, max_side,
						   cb, ud, &dirty);
		if (!dirty)
			return st;
		while (c > 0 && vi->cut[c - 1].index >= warm)
			c--;
		warm = c > 0 ? vi->cut[c - 1].index : 0;
		vclose(v);
		v->src.pos = 0;
		v->src.io_rc = 0;
	}
}

enum video_status video_decode_range(const struct dataset *ds, const char *path,
				     const struct video_info *vi, uint64_t first, uint64_t last,
				     uint64_t max_pixels, uint32_t max_side,
				     volatile int *cancel, video_frame_cb cb, void *ud,
				     char *reason, size_t rlen, int *io_rc)
{
	struct vctx v = { .src = { .ds = ds, .path = path, .cancel = cancel },
			  .reason = reason, .rlen = rlen };

	reason[0] = '\0';
	enum video_status st = decode(&v, vi, first, last, max_pixels, max_side, cb, ud);
	if (io_rc != NULL)
		*io_rc = v.src.io_rc;
	vclose(&v);
	return st;
}

enum video_status video_decode_buffer(const uint8_t *buf, size_t len, uint64_t max_pixels,
				      uint32_t max_side, video_frame_cb cb, void *ud,
				      char *reason, size_t rlen)
{
	struct vctx v = { .src = { .mem = buf, .size = len }, .reason = reason, .rlen = rlen };
	struct video_info vi;
	enum video_status st;

	reason[0] = '\0';
	memset(&vi, 0, sizeof(vi));
	st = probe(&v, max_pixels, &vi);
	vclose(&v);
	if (st != VID_OK)
		return st;
	memset(&v, 0, sizeof(v));
	v.src.mem = buf;
	v.src.size = len;
	v.reason = reason;
	v.rlen = rlen;
	/* In two ranges when the file has a cut, so the seek is fuzzed too. */
	uint64_t mid = vi.ncuts > 0 ? vi.cut[vi.ncuts / 2].index : vi.nframes;
	st = VID_OK;
	for (int r = 0; st == VID_OK && r < (mid < vi.nframes ? 2 : 1); r++) {
		st = decode(&v, &vi, r == 0 ? 0 : mid, r == 0 ? mid : vi.nframes, max_pixels,
			    max_side, cb, ud);
		vclose(&v);
		memset(&v, 0, sizeof(v));
		v.src.mem = buf;
		v.src.size = len;
		v.reason = reason;
		v.rlen = rlen;
	}
	vclose(&v);
	video_info_free(&vi);
	return st;
}
