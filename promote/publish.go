package promote

import "github.com/sailplan/sailplan/notify"

// eventOf is the event of one history entry, carrying the promotion p as
// it stands after it. Entries written before the history recorded their
// kind have none, and were published by the sailplan that wrote them.
func eventOf(p notify.Promotion, e Event) notify.Event {
	ch := notify.Change{At: notify.At{Time: e.At}, Promotion: p}
	switch e.Kind {
	case KindStarted:
		return notify.PromotionStarted{Change: ch}
	case KindStepped:
		return notify.PromotionStepped{Change: ch, Wave: e.Wave, Weight: e.Weight}
	case KindWaiting:
		return notify.ApprovalWaiting{Change: ch, Wave: e.Wave, Weight: e.Weight}
	case KindDecided:
		return notify.PromotionDecided{Change: ch, Decision: e.Decision, Weight: e.Weight, By: e.By, Via: e.Via, Message: e.Message}
	case KindRolledBack:
		return notify.PromotionRolledBack{Change: ch, Reason: e.Message, By: e.By}
	case KindPromoted:
		return notify.PromotionPromoted{Change: ch}
	case KindAmended:
		return notify.PromotionAmended{Change: ch, Message: e.Message, By: e.By, Via: e.Via}
	case KindWrittenBack:
		return notify.PromotionWrittenBack{Change: ch, Commit: e.Commit, Branch: e.Branch, Review: e.Review, Message: e.Message}
	case KindNotWrittenBack:
		return notify.PromotionNotWrittenBack{Change: ch, Reason: e.Message}
	}
	return nil
}
